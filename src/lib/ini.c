#include "ini.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INI_MAX_LINE 4096
#define INI_MAX_FILE (1024 * 1024)

static int is_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

/* Unquote "..." in place; returns -1 on a malformed quoted value. */
static int unquote(char *v)
{
	size_t n = strlen(v);
	if (n == 0 || v[0] != '"')
		return strchr(v, '"') ? -1 : 1;
	if (n < 2 || v[n - 1] != '"')
		return -1;
	char *o = v;
	for (size_t i = 1; i < n - 1; i++) {
		if (v[i] == '\\') {
			if (i + 1 >= n - 1 || (v[i + 1] != '"' && v[i + 1] != '\\'))
				return -1;
			*o++ = v[++i];
		} else if (v[i] == '"') {
			return -1;
		} else {
			*o++ = v[i];
		}
	}
	*o = '\0';
	return 1;
}

int ini_parse_string(const char *name, const char *text, size_t len, ini_cb *cb, void *ctx,
		     char *err_r, size_t errcap)
{
	char section[128] = "";
	char line[INI_MAX_LINE + 1];
	unsigned lineno = 0;
	size_t pos = 0;

	while (pos < len) {
		lineno++;
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
		if (ll > INI_MAX_LINE) {
			snprintf(err_r, errcap, "%s:%u: line is longer than %d bytes", name, lineno,
				 INI_MAX_LINE);
			return -1;
		}
		memcpy(line, text + pos, ll);
		line[ll] = '\0';
		pos += ll + (nl ? 1 : 0);
		if (memchr(line, '\0', ll)) {
			snprintf(err_r, errcap, "%s:%u: NUL byte in line", name, lineno);
			return -1;
		}

		char *s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		char err[512] = "";
		if (*s == '[') {
			size_t n = strlen(s);
			if (s[n - 1] != ']') {
				snprintf(err_r, errcap, "%s:%u: section header without ']'", name, lineno);
				return -1;
			}
			s[n - 1] = '\0';
			char *sec = trim(s + 1);
			if (*sec == '\0' || strlen(sec) >= sizeof(section)) {
				snprintf(err_r, errcap, "%s:%u: bad section name", name, lineno);
				return -1;
			}
			for (char *p = sec; *p; p++) {
				if (!is_key_char(*p)) {
					snprintf(err_r, errcap, "%s:%u: bad section name '%s'", name,
						 lineno, sec);
					return -1;
				}
			}
			snprintf(section, sizeof(section), "%s", sec);
			if (cb(ctx, section, NULL, NULL, lineno, err, sizeof(err)) < 0) {
				snprintf(err_r, errcap, "%s:%u: %s", name, lineno, err);
				return -1;
			}
			continue;
		}
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			snprintf(err_r, errcap, "%s:%u: expected 'key = value'", name, lineno);
			return -1;
		}
		*eq = '\0';
		char *key = trim(s), *value = trim(eq + 1);
		if (*key == '\0') {
			snprintf(err_r, errcap, "%s:%u: missing key before '='", name, lineno);
			return -1;
		}
		for (char *p = key; *p; p++) {
			if (!is_key_char(*p)) {
				snprintf(err_r, errcap, "%s:%u: bad key name '%s'", name, lineno, key);
				return -1;
			}
		}
		if (unquote(value) < 0) {
			snprintf(err_r, errcap, "%s:%u: %s: badly quoted value", name, lineno, key);
			return -1;
		}
		if (cb(ctx, section, key, value, lineno, err, sizeof(err)) < 0) {
			snprintf(err_r, errcap, "%s:%u: %s", name, lineno, err);
			return -1;
		}
	}
	return 1;
}

int ini_parse_file(const char *path, ini_cb *cb, void *ctx, char *err_r, size_t errcap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err_r, errcap, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	char *text = malloc(INI_MAX_FILE + 1);
	if (text == NULL) {
		fclose(f);
		snprintf(err_r, errcap, "%s: out of memory", path);
		return -1;
	}
	size_t len = fread(text, 1, INI_MAX_FILE + 1, f);
	int rerr = ferror(f);
	fclose(f);
	if (rerr) {
		free(text);
		snprintf(err_r, errcap, "%s: read error", path);
		return -1;
	}
	if (len > INI_MAX_FILE) {
		free(text);
		snprintf(err_r, errcap, "%s: file is larger than %d bytes", path, INI_MAX_FILE);
		return -1;
	}
	int ret = ini_parse_string(path, text, len, cb, ctx, err_r, errcap);
	free(text);
	return ret;
}
