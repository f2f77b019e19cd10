/* cli.c - helpers shared by the `roost` command handlers (see cli.h). */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "lib/config.h"
#include "lib/utf8.h"
#include "store/store.h"

static const char *current_command = "";
static const char *current_usage = "";
static bool auth_opened, store_opened;

void cli_set_command(const char *name, const char *usage)
{
	current_command = name;
	current_usage = usage;
}

void cli_set_subcommand(const char *name)
{
	current_command = name;
}

int cli_address(const char *address, char *out)
{
	char why[160];
	if (auth_address_canonical(address, out, AUTH_ADDRESS_MAX, why, sizeof(why)) < 0)
		return cli_error(EX_DATAERR, "%s: invalid address '%s': %s", current_command,
		                 address, why);
	return 0;
}

int cli_account_get(const char *address, struct auth_account *a)
{
	char err[512];
	int r = auth_account_get(address, a, err, sizeof(err));
	if (r < 0)
		return cli_error(EX_TEMPFAIL, "%s: %s", current_command, err);
	if (r == 0)
		return cli_error(EX_NOUSER, "%s: %s does not exist", current_command, address);
	return 0;
}

int cli_error(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("roost: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("roost: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: roost %s\n", current_usage);
	return EX_USAGE;
}

static const struct cli_option *find_option(const struct cli_option *opts, const char *name,
                                            size_t len)
{
	for (; opts->name != NULL; opts++)
		if (strlen(opts->name) == len && strncmp(opts->name, name, len) == 0)
			return opts;
	return NULL;
}

int cli_parse(int argc, char **argv, int first, const struct cli_option *opts, char **pos, int cap,
              int *npos_r)
{
	int npos = 0;
	bool options_done = false;

	for (int i = first; i < argc; i++) {
		char *a = argv[i];
		if (!options_done && strcmp(a, "--") == 0) {
			options_done = true;
			continue;
		}
		if (!options_done && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
			/* Asked for help: show it and stop, successfully. */
			printf("usage: roost %s\n", current_usage);
			exit(EX_OK);
		}
		if (!options_done && a[0] == '-' && a[1] != '\0') {
			if (a[1] != '-')
				return cli_usage_error("%s: unknown option '%s'", current_command,
				                       a);
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct cli_option *o = find_option(opts, name, len);
			if (o == NULL)
				return cli_usage_error("%s: unknown option '%s'", current_command,
				                       a);
			if (o->flag != NULL) {
				if (eq != NULL)
					return cli_usage_error("%s: option '--%s' takes no value",
					                       current_command, o->name);
				*o->flag = true;
			} else if (eq != NULL) {
				*o->value = eq + 1;
			} else {
				if (i + 1 >= argc)
					return cli_usage_error("%s: option '--%s' needs a value",
					                       current_command, o->name);
				*o->value = argv[++i];
			}
			continue;
		}
		if (npos >= cap)
			return cli_usage_error("%s: too many arguments", current_command);
		pos[npos++] = a;
	}
	*npos_r = npos;
	return 0;
}

void cli_json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	const unsigned char *end = p + strlen((const char *)p);
	fputc('"', f);
	while (*p) {
		unsigned char c = *p;
		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
			p++;
		} else if (c == '\n') {
			fputs("\\n", f);
			p++;
		} else if (c == '\t') {
			fputs("\\t", f);
			p++;
		} else if (c == '\r') {
			fputs("\\r", f);
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			p++;
		} else if (c < 0x80) {
			fputc(c, f);
			p++;
		} else {
			uint32_t cp;
			size_t n = utf8_decode(p, (size_t)(end - p), &cp);
			if (n == 0) {
				fputs("\\ufffd", f);
				p++;
			} else {
				fwrite(p, 1, n, f);
				p += n;
			}
		}
	}
	fputc('"', f);
}

void cli_json_member_line(const char *key, const char *value)
{
	fputc('{', stdout);
	cli_json_string(stdout, key);
	fputs(": ", stdout);
	cli_json_string(stdout, value);
	fputs("}\n", stdout);
}

void cli_json_list_next(const struct cli_list *list)
{
	fputs(list->n ? ",\n  " : "\n  ", stdout);
}

void cli_json_list_end(const struct cli_list *list)
{
	fputs(list->n ? "\n]\n" : "]\n", stdout);
}

/* Reads one line from fd into buf without stdio buffering, so nothing
 * past the newline is consumed. Returns the length, -1 on error or EOF
 * before any byte, -2 when the line does not fit. */
static long read_line_fd(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	bool any = false, overflow = false;
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		any = true;
		if (c == '\n')
			break;
		if (len + 1 >= cap)
			overflow = true;
		else
			buf[len++] = c;
	}
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	if (overflow)
		return -2;
	return any ? (long)len : -1;
}

/* While echo is off, an interrupt must not leave the terminal silent:
 * the handler puts the saved mode back and re-raises the signal. */
static int prompt_fd = -1;
static struct termios prompt_saved;

static void prompt_signal(int sig)
{
	if (prompt_fd >= 0)
		tcsetattr(prompt_fd, TCSAFLUSH, &prompt_saved);
	signal(sig, SIG_DFL);
	raise(sig);
}

static long prompt_tty(int fd, const char *prompt, char *buf, size_t cap)
{
	struct termios quiet;
	if (tcgetattr(fd, &prompt_saved) < 0)
		return -1;
	quiet = prompt_saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	quiet.c_lflag |= ICANON;
	prompt_fd = fd;
	void (*old_int)(int) = signal(SIGINT, prompt_signal);
	void (*old_term)(int) = signal(SIGTERM, prompt_signal);
	void (*old_hup)(int) = signal(SIGHUP, prompt_signal);
	long n = -1;
	/* Echo off first, then the prompt: whatever is typed once the prompt
	 * shows is never echoed. */
	if (tcsetattr(fd, TCSAFLUSH, &quiet) == 0) {
		if (write(fd, prompt, strlen(prompt)) >= 0)
			n = read_line_fd(fd, buf, cap);
		tcsetattr(fd, TCSAFLUSH, &prompt_saved);
		if (write(fd, "\n", 1) < 0)
			n = -1;
	}
	signal(SIGINT, old_int);
	signal(SIGTERM, old_term);
	signal(SIGHUP, old_hup);
	prompt_fd = -1;
	return n;
}

int cli_read_password(bool from_stdin, bool confirm, char *buf, size_t cap)
{
	long n;
	if (from_stdin) {
		n = read_line_fd(STDIN_FILENO, buf, cap);
		if (n == -2)
			return cli_error(EX_DATAERR, "%s: password too long", current_command);
		if (n < 0)
			return cli_error(EX_DATAERR, "%s: no password on standard input",
			                 current_command);
	} else {
		int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return cli_usage_error("%s: no terminal to ask for the password; use "
			                       "--password-stdin",
			                       current_command);
		n = prompt_tty(fd, "Password: ", buf, cap);
		if (n >= 0 && confirm) {
			char again[AUTH_PASSWORD_MAX + 2];
			long m = prompt_tty(fd, "Password (again): ", again, sizeof(again));
			bool same = m == n && strcmp(again, buf) == 0;
			explicit_bzero(again, sizeof(again));
			if (!same) {
				close(fd);
				explicit_bzero(buf, cap);
				return cli_error(EX_DATAERR, "%s: the passwords do not match",
				                 current_command);
			}
		}
		close(fd);
		if (n == -2)
			return cli_error(EX_DATAERR, "%s: password too long", current_command);
		if (n < 0)
			return cli_error(EX_DATAERR, "%s: could not read the password",
			                 current_command);
	}
	if (n == 0)
		return cli_error(EX_DATAERR, "%s: empty password refused", current_command);
	return 0;
}

int cli_check_args(int npos, int min, int max, const char *missing)
{
	if (npos < min)
		return cli_usage_error("%s: %s", current_command, missing);
	if (npos > max)
		return cli_usage_error("%s: too many arguments", current_command);
	return 0;
}

int cli_parse_json(int argc, char **argv, bool *json, char **pos, int cap, int *npos_r)
{
	const struct cli_option opts[] = {
	    {"json", json, NULL},
	    {NULL, NULL, NULL},
	};
	return cli_parse(argc, argv, 2, opts, pos, cap, npos_r);
}

int cli_dispatch(const char *command, const struct cli_subcommand *subs, size_t n, int argc,
                 char **argv)
{
	if (argc < 2)
		return cli_usage_error("%s: missing subcommand", command);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(argv[1], subs[i].name) == 0) {
			static char name[32];
			snprintf(name, sizeof(name), "%s %s", command, subs[i].name);
			cli_set_subcommand(name);
			return subs[i].fn(argc, argv);
		}
	}
	return cli_usage_error("%s: unknown subcommand '%s'", command, argv[1]);
}

static void close_auth(void)
{
	auth_deinit();
}

static void close_store(void)
{
	store_deinit();
}

int cli_auth_open(void)
{
	if (auth_opened)
		return 0;
	char err[512];
	if (auth_init(roost_config, err, sizeof(err)) < 0) {
		int code = EX_TEMPFAIL;
		if (access(roost_config->data_dir, F_OK) < 0)
			code = EX_CANTCREAT;
		return cli_error(code, "%s", err);
	}
	auth_opened = true;
	atexit(close_auth);
	return 0;
}

int cli_store_open(void)
{
	if (store_opened)
		return 0;
	char err[512];
	if (store_init(roost_config->data_dir, err, sizeof(err)) < 0)
		return cli_error(EX_TEMPFAIL, "%s", err);
	store_opened = true;
	atexit(close_store);
	return 0;
}

int cli_exit_for_auth_err(int auth_err)
{
	switch ((enum auth_err)auth_err) {
	case AUTH_ERR_NONE:
		return EX_OK;
	case AUTH_ERR_INVALID:
	case AUTH_ERR_CONFLICT:
		return EX_DATAERR;
	case AUTH_ERR_EXISTS:
	case AUTH_ERR_STORE:
		return EX_CANTCREAT;
	case AUTH_ERR_NOUSER:
		return EX_NOUSER;
	case AUTH_ERR_TEMP:
		return EX_TEMPFAIL;
	}
	return EX_SOFTWARE;
}

const char *cli_format_time(int64_t t, char *buf, size_t cap)
{
	if (t == 0) {
		snprintf(buf, cap, "never");
		return buf;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, cap, "%Y-%m-%d %H:%M:%SZ", &tm);
	return buf;
}

const char *cli_format_bytes(uint64_t n, char *buf, size_t cap)
{
	static const char units[] = "KMGT";
	if (n == 0) {
		snprintf(buf, cap, "unlimited");
		return buf;
	}
	int u = -1;
	uint64_t v = n;
	while (u < 3 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, cap, "%llu", (unsigned long long)n);
	else
		snprintf(buf, cap, "%llu%c", (unsigned long long)v, units[u]);
	return buf;
}
