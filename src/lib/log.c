#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static enum log_level current_level = LOG_LVL_INFO;
static bool to_syslog;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_level_parse(const char *name, enum log_level *r)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*r = (enum log_level)i;
			return 1;
		}
	}
	return -1;
}

void log_set_level(enum log_level level)
{
	current_level = level;
}

enum log_level log_get_level(void)
{
	return current_level;
}

void log_set_syslog(bool use_syslog, const char *ident)
{
	to_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

bool log_enabled(enum log_level level)
{
	return level >= current_level;
}

const char *log_quote(const char *value, char *dst, unsigned cap)
{
	bool needs_quotes = value[0] == '\0';
	for (const char *p = value; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
			needs_quotes = true;
	}
	if (!needs_quotes) {
		snprintf(dst, cap, "%s", value);
		return dst;
	}
	unsigned o = 0;
	if (cap < 3) {
		if (cap)
			dst[0] = '\0';
		return dst;
	}
	dst[o++] = '"';
	for (const char *p = value; *p && o + 5 < cap; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else if (c < ' ' || c == 0x7f) {
			o += (unsigned)snprintf(dst + o, cap - o, "\\x%02x", c);
		} else {
			dst[o++] = (char)c;
		}
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}

void log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;
	char line[2048];
	int off;
	va_list ap;

	if (to_syslog) {
		off = snprintf(line, sizeof(line), "level=%s event=%s", level_names[level], event);
	} else {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		off = snprintf(line, sizeof(line),
			       "time=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
			       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
			       tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], event);
	}
	if (off < 0)
		return;
	if (fmt && fmt[0] && (size_t)off < sizeof(line) - 2) {
		line[off++] = ' ';
		va_start(ap, fmt);
		vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
		va_end(ap);
	}
	/* Keep one event on one line whatever a field contained. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	if (to_syslog) {
		static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR };
		syslog(prio[level], "%s", line);
		return;
	}
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}
