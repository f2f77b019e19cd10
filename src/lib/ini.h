/* ini.h - a strict tokenizer for roost.conf.
 *
 * Format:
 *   # comment            (also ; comment; only at the start of a line)
 *   key = value          (value runs to end of line, surrounding blanks trimmed;
 *                         "double quotes" keep blanks, with \" and \\ escapes)
 *   [section]            starts a section; a section may repeat ([listener])
 *
 * The tokenizer knows no keys: it calls `cb` for every section header
 * (key == NULL) and every key/value, with the 1-based line number. The
 * callback returns -1 to stop with an error it has already described in
 * err (as "key: reason"); the tokenizer itself reports syntax errors.
 * On error, err_r holds "FILE:LINE: message". Returns 1 or -1. */
#ifndef ROOST_INI_H
#define ROOST_INI_H

#include <stddef.h>

typedef int ini_cb(void *ctx, const char *section, const char *key, const char *value,
		   unsigned line, char *err, size_t errcap);

int ini_parse_string(const char *name, const char *text, size_t len, ini_cb *cb, void *ctx,
		     char *err_r, size_t errcap);
int ini_parse_file(const char *path, ini_cb *cb, void *ctx, char *err_r, size_t errcap);

#endif
