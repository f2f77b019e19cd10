/* log.h - one line per event, key=value fields.
 *
 * Every line has time=, level= and event=; callers add fields such as
 * session=, remote=, proto=, user=. Values with spaces or quotes are
 * quoted by log_kv. Never pass passwords or message contents. */
#ifndef ROOST_LOG_H
#define ROOST_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* Returns -1 for an unknown name. */
int log_level_parse(const char *name, enum log_level *r);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "stderr" (default) or "syslog". */
void log_set_syslog(bool use_syslog, const char *ident);
bool log_enabled(enum log_level level);

/* `event` is a short word (e.g. "login", "disconnect"); fmt adds further
 * key=value fields, already formatted, separated by spaces. */
void log_event(enum log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(ev, ...) log_event(LOG_LVL_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...) log_event(LOG_LVL_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...) log_event(LOG_LVL_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_event(LOG_LVL_ERROR, ev, __VA_ARGS__)

/* Format a value safe for a key=value field into dst (quoted and escaped
 * when it holds spaces, quotes, '=' or control bytes; truncated to fit).
 * Returns dst. */
const char *log_quote(const char *value, char *dst, unsigned cap);

#endif
