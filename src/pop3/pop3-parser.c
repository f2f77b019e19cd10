/* pop3-parser.c - see pop3-parser.h. */
#include "pop3-parser.h"

#include <string.h>

enum arg_kind {
	ARGS_NONE,       /* STAT, NOOP, RSET, QUIT, CAPA, STLS, UTF8 */
	ARGS_REST,       /* USER, PASS: the rest of the line */
	ARGS_MSG_OPT,    /* LIST, UIDL */
	ARGS_MSG,        /* RETR, DELE */
	ARGS_MSG_LINES,  /* TOP */
	ARGS_AUTH,       /* AUTH [mechanism [initial-response]] */
	ARGS_APOP,       /* APOP name digest: parsed only to refuse it clearly */
};

struct cmd_def {
	const char *name;
	enum arg_kind args;
};

static const struct cmd_def cmd_defs[POP3_CMD_COUNT_] = {
	[POP3_CMD_USER] = { "USER", ARGS_REST },
	[POP3_CMD_PASS] = { "PASS", ARGS_REST },
	[POP3_CMD_APOP] = { "APOP", ARGS_APOP },
	[POP3_CMD_AUTH] = { "AUTH", ARGS_AUTH },
	[POP3_CMD_STAT] = { "STAT", ARGS_NONE },
	[POP3_CMD_LIST] = { "LIST", ARGS_MSG_OPT },
	[POP3_CMD_RETR] = { "RETR", ARGS_MSG },
	[POP3_CMD_DELE] = { "DELE", ARGS_MSG },
	[POP3_CMD_NOOP] = { "NOOP", ARGS_NONE },
	[POP3_CMD_RSET] = { "RSET", ARGS_NONE },
	[POP3_CMD_QUIT] = { "QUIT", ARGS_NONE },
	[POP3_CMD_TOP] = { "TOP", ARGS_MSG_LINES },
	[POP3_CMD_UIDL] = { "UIDL", ARGS_MSG_OPT },
	[POP3_CMD_CAPA] = { "CAPA", ARGS_NONE },
	[POP3_CMD_STLS] = { "STLS", ARGS_NONE },
	[POP3_CMD_UTF8] = { "UTF8", ARGS_NONE },
};

const char *pop3_cmd_name(enum pop3_cmd cmd)
{
	return (unsigned)cmd < POP3_CMD_COUNT_ ? cmd_defs[cmd].name : "?";
}

/* Control characters never belong in a command; 8-bit bytes may (UTF-8
 * user names and passwords, RFC 6856 2.2). */
static bool has_control(struct str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char ch = (unsigned char)s.p[i];
		if (ch < 0x20 || ch == 0x7f)
			return true;
	}
	return false;
}

/* Splits off the next space-separated token; *rest is what follows it
 * (leading spaces skipped). Returns an empty view at the end. */
static struct str next_token(struct str *rest)
{
	size_t i = 0;
	while (i < rest->len && rest->p[i] == ' ')
		i++;
	size_t start = i;
	while (i < rest->len && rest->p[i] != ' ')
		i++;
	struct str tok = str_make(rest->p + start, i - start);
	while (i < rest->len && rest->p[i] == ' ')
		i++;
	*rest = str_make(rest->p + i, rest->len - i);
	return tok;
}

/* RFC 1939 3: a message number is a decimal number. Anything that is not
 * digits is a syntax error; a number too large for any maildrop is still
 * a number (the session answers "no such message"), so clamp it. */
static int parse_number(struct str tok, uint32_t *r)
{
	if (tok.len == 0)
		return -1;
	uint64_t n = 0;
	for (size_t i = 0; i < tok.len; i++) {
		if (tok.p[i] < '0' || tok.p[i] > '9')
			return -1;
		if (n <= UINT32_MAX)
			n = n * 10 + (uint64_t)(tok.p[i] - '0');
	}
	*r = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	return 1;
}

/* RFC 4422 3.1: mechanism names are 1-20 of A-Z, 0-9, '-' and '_'
 * (compared case-insensitively here, as clients vary). */
static bool is_mechanism_name(struct str s)
{
	if (s.len == 0 || s.len > 20)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		char ch = s.p[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
	}
	return true;
}

int pop3_parse_command(struct str line, struct pop3_command *cmd_r, const char **error_r)
{
	memset(cmd_r, 0, sizeof(*cmd_r));
	cmd_r->arg = STR_NULL;
	cmd_r->initial_response = STR_NULL;

	/* The keyword ends at the first space; no leading spaces allowed. */
	size_t kw_len = 0;
	while (kw_len < line.len && line.p[kw_len] != ' ')
		kw_len++;
	if (kw_len == 0) {
		*error_r = "Empty command";
		return -1;
	}
	struct str kw = str_make(line.p, kw_len);
	int found = -1;
	for (int i = 0; i < POP3_CMD_COUNT_; i++) {
		if (str_eq_cstr_nocase(kw, cmd_defs[i].name)) {
			found = i;
			break;
		}
	}
	if (found < 0) {
		*error_r = "Unknown command";
		return -1;
	}
	cmd_r->cmd = (enum pop3_cmd)found;

	/* After the keyword: nothing, or a space and the arguments. */
	struct str rest = str_make(line.p + kw_len, line.len - kw_len);
	struct str raw_args = rest.len ? str_make(rest.p + 1, rest.len - 1) : rest;
	if (has_control(rest) && cmd_r->cmd != POP3_CMD_PASS) {
		*error_r = "Control characters are not allowed in commands";
		return -1;
	}

	struct str tok;
	switch (cmd_defs[found].args) {
	case ARGS_NONE:
		if (next_token(&rest).len != 0) {
			*error_r = "This command takes no arguments";
			return -1;
		}
		return 1;

	case ARGS_REST:
		if (cmd_r->cmd == POP3_CMD_PASS) {
			/* RFC 1939 7: the server may treat spaces in the
			 * argument as part of the password, so take every
			 * byte after the one separating space. NUL, CR and
			 * LF cannot be part of a password. */
			for (size_t i = 0; i < raw_args.len; i++) {
				if (raw_args.p[i] == '\0' || raw_args.p[i] == '\r' ||
				    raw_args.p[i] == '\n') {
					*error_r = "Control characters are not allowed in commands";
					return -1;
				}
			}
			cmd_r->arg = raw_args;
		} else {
			cmd_r->arg = str_trim(raw_args);
		}
		if (cmd_r->arg.len == 0) {
			*error_r = cmd_r->cmd == POP3_CMD_PASS ? "PASS needs a password"
							       : "USER needs a user name";
			return -1;
		}
		return 1;

	case ARGS_MSG_OPT:
	case ARGS_MSG:
	case ARGS_MSG_LINES:
		tok = next_token(&rest);
		if (tok.len == 0) {
			if (cmd_defs[found].args == ARGS_MSG_OPT)
				return 1;
			*error_r = "Message number required";
			return -1;
		}
		if (parse_number(tok, &cmd_r->msg) < 0) {
			*error_r = "Invalid message number";
			return -1;
		}
		cmd_r->has_msg = true;
		if (cmd_defs[found].args == ARGS_MSG_LINES) {
			tok = next_token(&rest);
			if (tok.len == 0) {
				*error_r = "TOP needs a message number and a number of lines";
				return -1;
			}
			if (parse_number(tok, &cmd_r->lines) < 0) {
				*error_r = "Invalid number of lines";
				return -1;
			}
		}
		if (rest.len != 0) {
			*error_r = "Too many arguments";
			return -1;
		}
		return 1;

	case ARGS_AUTH:
		tok = next_token(&rest);
		if (tok.len == 0)
			return 1; /* AUTH alone lists the mechanisms */
		if (!is_mechanism_name(tok)) {
			*error_r = "Invalid SASL mechanism name";
			return -1;
		}
		cmd_r->arg = tok;
		tok = next_token(&rest);
		if (tok.len != 0) {
			cmd_r->initial_response = tok;
			cmd_r->has_initial_response = true;
		}
		if (rest.len != 0) {
			*error_r = "Too many arguments";
			return -1;
		}
		return 1;

	case ARGS_APOP:
		return 1;
	}
	*error_r = "Unknown command";
	return -1;
}
