/* Unit tests for the POP3 command parser (src/pop3/pop3-parser.c). */
#include "unit.h"

#include "pop3/pop3-parser.h"

static int parse(const char *line, struct pop3_command *cmd, const char **err)
{
	return pop3_parse_command(str_c(line), cmd, err);
}

TEST(keywords_case_insensitive)
{
	struct pop3_command cmd;
	const char *err;
	CHECK(parse("stat", &cmd, &err) == 1 && cmd.cmd == POP3_CMD_STAT);
	CHECK(parse("StAt", &cmd, &err) == 1 && cmd.cmd == POP3_CMD_STAT);
	CHECK(parse("QUIT", &cmd, &err) == 1 && cmd.cmd == POP3_CMD_QUIT);
	CHECK(parse("capa", &cmd, &err) == 1 && cmd.cmd == POP3_CMD_CAPA);
	CHECK(parse("top 1 0", &cmd, &err) == 1 && cmd.cmd == POP3_CMD_TOP);
	CHECK(parse("utf8", &cmd, &err) == 1 && cmd.cmd == POP3_CMD_UTF8);
	CHECK(parse("stls", &cmd, &err) == 1 && cmd.cmd == POP3_CMD_STLS);
	CHECK(parse("noop", &cmd, &err) == 1 && cmd.cmd == POP3_CMD_NOOP);
	CHECK(parse("rset", &cmd, &err) == 1 && cmd.cmd == POP3_CMD_RSET);
	CHECK_STREQ(pop3_cmd_name(POP3_CMD_UIDL), "UIDL");
}

TEST(unknown_and_empty)
{
	struct pop3_command cmd;
	const char *err = NULL;
	CHECK(parse("", &cmd, &err) == -1 && err != NULL);
	CHECK(parse("XYZZY", &cmd, &err) == -1);
	CHECK_STREQ(err, "Unknown command");
	CHECK(parse(" STAT", &cmd, &err) == -1);
	CHECK(parse("STATS", &cmd, &err) == -1);
	CHECK(parse("STA", &cmd, &err) == -1);
	/* A keyword glued to something else is not the keyword. */
	CHECK(parse("LIST1", &cmd, &err) == -1);
}

TEST(no_argument_commands)
{
	struct pop3_command cmd;
	const char *err;
	CHECK(parse("STAT extra", &cmd, &err) == -1);
	CHECK(parse("QUIT now", &cmd, &err) == -1);
	/* Trailing spaces are tolerated. */
	CHECK(parse("NOOP  ", &cmd, &err) == 1 && cmd.cmd == POP3_CMD_NOOP);
	CHECK(parse("NOOP\t", &cmd, &err) == -1);
}

TEST(message_numbers)
{
	struct pop3_command cmd;
	const char *err;
	CHECK(parse("LIST", &cmd, &err) == 1 && !cmd.has_msg);
	CHECK(parse("LIST 7", &cmd, &err) == 1 && cmd.has_msg && cmd.msg == 7);
	CHECK(parse("UIDL 12", &cmd, &err) == 1 && cmd.has_msg && cmd.msg == 12);
	CHECK(parse("RETR 1", &cmd, &err) == 1 && cmd.msg == 1);
	CHECK(parse("retr 0", &cmd, &err) == 1 && cmd.msg == 0);
	CHECK(parse("DELE 4294967295", &cmd, &err) == 1 && cmd.msg == UINT32_MAX);
	/* Too large for any maildrop: still a number, clamped. */
	CHECK(parse("DELE 99999999999999999999999", &cmd, &err) == 1 && cmd.msg == UINT32_MAX);
	CHECK(parse("RETR", &cmd, &err) == -1);
	CHECK_STREQ(err, "Message number required");
	CHECK(parse("RETR x", &cmd, &err) == -1);
	CHECK_STREQ(err, "Invalid message number");
	CHECK(parse("RETR -1", &cmd, &err) == -1);
	CHECK(parse("RETR +1", &cmd, &err) == -1);
	CHECK(parse("RETR 1x", &cmd, &err) == -1);
	CHECK(parse("RETR 1 2", &cmd, &err) == -1);
	CHECK_STREQ(err, "Too many arguments");
	CHECK(parse("LIST 1 2", &cmd, &err) == -1);
}

TEST(top)
{
	struct pop3_command cmd;
	const char *err;
	CHECK(parse("TOP 3 10", &cmd, &err) == 1 && cmd.msg == 3 && cmd.lines == 10);
	CHECK(parse("TOP 3 0", &cmd, &err) == 1 && cmd.lines == 0);
	CHECK(parse("TOP 3", &cmd, &err) == -1);
	CHECK(parse("TOP", &cmd, &err) == -1);
	CHECK(parse("TOP 3 -1", &cmd, &err) == -1);
	CHECK(parse("TOP 3 1 1", &cmd, &err) == -1);
}

TEST(user_pass)
{
	struct pop3_command cmd;
	const char *err;
	CHECK(parse("USER alice@example.com", &cmd, &err) == 1);
	CHECK_MEMEQ(cmd.arg.p, cmd.arg.len, "alice@example.com", 17);
	CHECK(parse("USER  bob  ", &cmd, &err) == 1);
	CHECK_MEMEQ(cmd.arg.p, cmd.arg.len, "bob", 3);
	CHECK(parse("USER", &cmd, &err) == -1);
	CHECK(parse("USER   ", &cmd, &err) == -1);
	/* RFC 1939 7: spaces belong to the password. */
	CHECK(parse("PASS  my secret ", &cmd, &err) == 1);
	CHECK_MEMEQ(cmd.arg.p, cmd.arg.len, " my secret ", 11);
	CHECK(parse("PASS \xe5\xaf\x86\xe7\xa0\x81", &cmd, &err) == 1 && cmd.arg.len == 6);
	CHECK(parse("PASS a\tb", &cmd, &err) == 1);
	CHECK(parse("PASS", &cmd, &err) == -1);
	CHECK(parse("PASS ", &cmd, &err) == -1);
	struct str nul = str_make("PASS a\0b", 8);
	CHECK(pop3_parse_command(nul, &cmd, &err) == -1);
	struct str ctl = str_make("USER a\001b", 8);
	CHECK(pop3_parse_command(ctl, &cmd, &err) == -1);
}

TEST(auth)
{
	struct pop3_command cmd;
	const char *err;
	CHECK(parse("AUTH", &cmd, &err) == 1 && cmd.arg.len == 0 && !cmd.has_initial_response);
	CHECK(parse("AUTH PLAIN", &cmd, &err) == 1 && !cmd.has_initial_response);
	CHECK_MEMEQ(cmd.arg.p, cmd.arg.len, "PLAIN", 5);
	CHECK(parse("auth plain AGFsaWNlAHNlY3JldA==", &cmd, &err) == 1);
	CHECK(cmd.has_initial_response);
	CHECK_MEMEQ(cmd.initial_response.p, cmd.initial_response.len, "AGFsaWNlAHNlY3JldA==", 20);
	CHECK(parse("AUTH PLAIN =", &cmd, &err) == 1 && cmd.has_initial_response);
	CHECK(parse("AUTH SCRAM-SHA-256", &cmd, &err) == 1);
	CHECK(parse("AUTH PL@IN", &cmd, &err) == -1);
	CHECK(parse("AUTH ABCDEFGHIJKLMNOPQRSTU", &cmd, &err) == -1);
	CHECK(parse("AUTH PLAIN a b", &cmd, &err) == -1);
}

UNIT_MAIN()
