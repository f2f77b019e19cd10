/* pop3-parser.h - POP3 command lines into commands, without I/O.
 *
 * The network layer splits input into lines (conn_read_line with
 * POP3_MAX_LINE); pop3_parse_command() turns one line, without its CRLF,
 * into a `struct pop3_command`. It is a pure function: the same line always
 * gives the same result, whatever state the session is in. The session
 * then checks the state (AUTHORIZATION / TRANSACTION) and the meaning of
 * the arguments (does message N exist, is it deleted).
 *
 * Syntax (RFC 1939 3, RFC 2449 4): a case-insensitive keyword of 3 or 4
 * printable characters, then arguments separated by a space. Runs of
 * spaces and trailing spaces are tolerated (some clients send them); tabs
 * and control characters are not. PASS and USER take the rest of the
 * line as one argument, since passwords may contain spaces (RFC 1939 7). */
#ifndef ROOST_POP3_PARSER_H
#define ROOST_POP3_PARSER_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/str.h"

/* RFC 2449 4: a command line is at most 255 octets including CRLF. */
#define POP3_MAX_LINE 255
/* A SASL continuation line (RFC 5034 4: the client's base64 responses are
 * not bound by the command limit). */
#define POP3_MAX_SASL_LINE 8192

enum pop3_cmd {
	POP3_CMD_USER,
	POP3_CMD_PASS,
	POP3_CMD_APOP,
	POP3_CMD_AUTH,
	POP3_CMD_STAT,
	POP3_CMD_LIST,
	POP3_CMD_RETR,
	POP3_CMD_DELE,
	POP3_CMD_NOOP,
	POP3_CMD_RSET,
	POP3_CMD_QUIT,
	POP3_CMD_TOP,
	POP3_CMD_UIDL,
	POP3_CMD_CAPA,
	POP3_CMD_STLS,
	POP3_CMD_UTF8,
	POP3_CMD_COUNT_
};

struct pop3_command {
	enum pop3_cmd cmd;
	/* USER, PASS: the argument (never empty). AUTH: the mechanism name
	 * (empty when AUTH has no argument: list the mechanisms). */
	struct str arg;
	/* AUTH: the initial response ("=" stands for an empty one), or
	 * STR_NULL when none was given. */
	struct str initial_response;
	bool has_initial_response;
	/* LIST, UIDL: has_msg tells whether a number was given. RETR, DELE,
	 * TOP: always set. A syntactically valid number may still be 0 or
	 * larger than the maildrop: the session answers "no such message". */
	bool has_msg;
	uint32_t msg;
	/* TOP: the number of body lines (any 32-bit value; 0 is valid). */
	uint32_t lines;
};

/* Parses one command line (CRLF already removed). Returns 1 with *cmd_r
 * set (its views point into `line`), or -1 with *error_r a static English
 * message for a "-ERR <message>" reply (unknown command, missing or bad
 * argument). Never fails otherwise. */
int pop3_parse_command(struct str line, struct pop3_command *cmd_r, const char **error_r);

/* The upper-case keyword of a command ("RETR"), for logs and replies. */
const char *pop3_cmd_name(enum pop3_cmd cmd);

#endif
