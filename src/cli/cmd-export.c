/* cmd-export.c - `roost export mbox|maildir USER PATH [FOLDER]`.
 *
 *  mbox     With FOLDER: that mailbox into the file PATH. Without: every
 *           mailbox into PATH/<name>.mbox (a '/' in a name makes a
 *           subdirectory), a tree `roost import mbox PATH USER` reads
 *           back. mboxrd: "From MAILER-DAEMON <internal date, UTC>",
 *           lines ">*From " get one more '>', LF line ends, an empty line
 *           after each message; flags as Status: (R, O) and X-Status:
 *           (A F T D), keywords as X-Keywords:, UIDs as Dovecot writes
 *           them (X-IMAPbase: in the first message, X-UID: in each).
 *  maildir  PATH becomes a Maildir: INBOX in the root, other mailboxes in
 *           Maildir++ folders (".Sub.Folder", modified UTF-7). File names
 *           "<date>.R<uidvalidity>x<uid>.roost,S=<size>,W=<vsize>:2,<flags>",
 *           keywords as Dovecot letters with a dovecot-keywords file, a
 *           dovecot-uidlist with the mailbox's UIDVALIDITY and every UID
 *           (so Dovecot serves them with the same UIDs), mtime = the
 *           internal date, LF line ends.
 *
 * Streaming: messages are copied in chunks, never held whole.
 *
 * Safe to re-run: an mbox file is written to a temporary name and renamed
 * over the old one; a Maildir message whose file exists already (same
 * name up to the flags) is not written again, only renamed when its
 * flags changed; the index files are rewritten whole.
 *
 * Exit codes: 0, 64 usage, 67 no such user or folder, 73 cannot create
 * PATH, 74 I/O error, 75 temporary store error. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "cli/maildir.h"
#include "cli/mbox.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "store/store.h"

#define EXPORT_CHUNK (64 * 1024)
#define PROGRESS_EVERY 500

static int open_store(void)
{
	int rc = cli_auth_open();
	return rc != 0 ? rc : cli_store_open();
}

static int store_fail(const char *what)
{
	const char *msg;
	enum store_error e = store_error(&msg);
	return cli_error(e == STORE_ERR_NONEXISTENT ? EX_NOUSER : EX_TEMPFAIL, "export: %s: %s",
			 what, msg);
}

/* mkdir -p for the directories of path (not its last component when
 * `parent_only`). */
static int make_dirs(const char *path, bool parent_only)
{
	char tmp[4096];
	size_t len = strlen(path);
	if (len >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, len + 1);
	if (parent_only) {
		char *slash = strrchr(tmp, '/');
		if (slash == NULL)
			return 0;
		*slash = '\0';
	}
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (tmp[0] != '\0' && mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Output buffered in 64 KiB. */
struct out {
	int fd;
	char *buf;
	size_t len;
	int err; /* errno of the first failure */
	uint64_t written;
};

static void out_flush(struct out *o)
{
	if (o->len > 0 && !o->err && write_all(o->fd, o->buf, o->len) < 0)
		o->err = errno;
	o->len = 0;
}

static void out_put(struct out *o, const char *p, size_t n)
{
	o->written += n;
	while (n > 0) {
		size_t room = EXPORT_CHUNK - o->len;
		size_t k = n < room ? n : room;
		memcpy(o->buf + o->len, p, k);
		o->len += k;
		p += k;
		n -= k;
		if (o->len == EXPORT_CHUNK)
			out_flush(o);
	}
}

/* Message text: CRLF to LF, and for mbox the mboxrd escape of ">*From ".
 * Keeps state across chunks. */
struct conv {
	bool mbox;
	bool pending_cr;
	bool line_start;
	size_t hold_len;  /* bytes held at a line start while deciding */
	char hold[72];
	char last;        /* the last byte written */
};

static void conv_init(struct conv *c, bool mbox)
{
	memset(c, 0, sizeof(*c));
	c->mbox = mbox;
	c->line_start = true;
	c->last = '\n';
}

static void conv_byte(struct conv *c, struct out *o, char b)
{
	if (c->mbox && c->line_start) {
		c->hold[c->hold_len++] = b;
		size_t k = 0;
		while (k < c->hold_len && c->hold[k] == '>')
			k++;
		size_t rest = c->hold_len - k;
		size_t cmp = rest < 5 ? rest : 5;
		bool match = memcmp(c->hold + k, "From ", cmp) == 0;
		if (match && rest < 5 && c->hold_len < sizeof(c->hold) && b != '\n')
			return; /* undecided */
		if (match && rest >= 5)
			out_put(o, ">", 1);
		out_put(o, c->hold, c->hold_len);
		c->last = c->hold[c->hold_len - 1];
		c->line_start = b == '\n';
		c->hold_len = 0;
		return;
	}
	out_put(o, &b, 1);
	c->last = b;
	if (b == '\n')
		c->line_start = true;
}

static void conv_write(struct conv *c, struct out *o, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char b = p[i];
		if (c->pending_cr) {
			c->pending_cr = false;
			if (b != '\n')
				conv_byte(c, o, '\r');
		}
		if (b == '\r') {
			c->pending_cr = true;
			continue;
		}
		/* Fast path: plain bytes in mid-line. */
		if (!c->line_start || !c->mbox) {
			size_t j = i;
			while (j < n && p[j] != '\r' && p[j] != '\n')
				j++;
			if (j > i) {
				out_put(o, p + i, j - i);
				c->last = p[j - 1];
				c->line_start = false;
				i = j - 1;
				continue;
			}
		}
		conv_byte(c, o, b);
	}
}

static void conv_end(struct conv *c, struct out *o)
{
	if (c->pending_cr)
		conv_byte(c, o, '\r');
	c->pending_cr = false;
	if (c->hold_len > 0) {
		out_put(o, c->hold, c->hold_len);
		c->last = c->hold[c->hold_len - 1];
		c->hold_len = 0;
	}
}

/* Copies one stored message through the converter. 1 done, 0 expunged
 * meanwhile, -1 error (reported). */
static int copy_message(struct store_user *u, const struct store_msg *m, struct conv *c,
			struct out *o, char *chunk)
{
	int fd;
	uint64_t size;
	int ret = store_msg_open(u, m->blob_id, &fd, &size);
	if (ret <= 0) {
		if (ret < 0)
			store_fail("reading a message");
		return ret;
	}
	ssize_t n;
	while ((n = read(fd, chunk, EXPORT_CHUNK)) > 0)
		conv_write(c, o, chunk, (size_t)n);
	int saved = errno;
	close(fd);
	if (n < 0) {
		cli_error(EX_IOERR, "export: reading a message: %s", strerror(saved));
		return -1;
	}
	conv_end(c, o);
	return 1;
}

/* ------------------------------------------------------------------ */
/* mbox */

static int export_mbox_file(struct store_user *u, const struct store_mailbox_info *mb,
			    const char *path)
{
	if (make_dirs(path, true) < 0)
		return cli_error(EX_CANTCREAT, "export: cannot create %s: %s", path, strerror(errno));
	char tmp[4300];
	snprintf(tmp, sizeof(tmp), "%s.roost-tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cli_error(EX_CANTCREAT, "export: cannot create %s: %s", tmp, strerror(errno));
	struct store_msg_list *list = NULL;
	if (store_msg_list_load(u, mb->id, &list) < 0) {
		close(fd);
		unlink(tmp);
		return store_fail(mb->name);
	}
	struct out o = { .fd = fd, .buf = malloc(EXPORT_CHUNK) };
	char *chunk = malloc(EXPORT_CHUNK);
	int rc = 0;
	if (o.buf == NULL || chunk == NULL)
		rc = cli_error(EX_TEMPFAIL, "export: out of memory");
	unsigned done = 0;
	for (uint32_t i = 0; rc == 0 && i < list->count; i++) {
		const struct store_msg *m = &list->msgs[i];
		char line[256];
		size_t n = mbox_from_line_format("MAILER-DAEMON", m->internal_date, line,
						 sizeof(line));
		out_put(&o, line, n);
		out_put(&o, "\n", 1);
		out_put(&o, m->flags & STORE_FLAG_SEEN ? "Status: RO\n" : "Status: O\n",
			m->flags & STORE_FLAG_SEEN ? 11 : 10);
		char xs[8];
		size_t xn = 0;
		if (m->flags & STORE_FLAG_ANSWERED)
			xs[xn++] = 'A';
		if (m->flags & STORE_FLAG_FLAGGED)
			xs[xn++] = 'F';
		if (m->flags & STORE_FLAG_DRAFT)
			xs[xn++] = 'T';
		if (m->flags & STORE_FLAG_DELETED)
			xs[xn++] = 'D';
		if (xn > 0) {
			out_put(&o, "X-Status: ", 10);
			out_put(&o, xs, xn);
			out_put(&o, "\n", 1);
		}
		/* Dovecot's UID headers, so Dovecot and `roost import` keep the
		 * UIDs: the folder's UIDVALIDITY and UIDNEXT in the first
		 * message, each message's UID. */
		char uidhdr[96];
		int un;
		if (i == 0) {
			un = snprintf(uidhdr, sizeof(uidhdr), "X-IMAPbase: %u %u\n", list->uidvalidity,
				      list->uidnext);
			out_put(&o, uidhdr, (size_t)un);
		}
		un = snprintf(uidhdr, sizeof(uidhdr), "X-UID: %u\n", m->uid);
		out_put(&o, uidhdr, (size_t)un);
		const char *kw = store_msg_keywords(list, m);
		if (kw[0] != '\0') {
			out_put(&o, "X-Keywords: ", 12);
			out_put(&o, kw, strlen(kw));
			out_put(&o, "\n", 1);
		}
		struct conv c;
		conv_init(&c, true);
		int ret = copy_message(u, m, &c, &o, chunk);
		if (ret < 0) {
			rc = EX_TEMPFAIL;
			break;
		}
		/* The message ends with a line end, then the empty line that
		 * belongs to the separator. */
		if (c.last != '\n')
			out_put(&o, "\n", 1);
		out_put(&o, "\n", 1);
		if (++done % PROGRESS_EVERY == 0) {
			printf("%s: %u of %u messages\n", mb->name, done, list->count);
			fflush(stdout);
		}
	}
	if (o.buf != NULL)
		out_flush(&o);
	if (rc == 0 && o.err)
		rc = cli_error(EX_IOERR, "export: writing %s: %s", tmp, strerror(o.err));
	if (rc == 0 && fsync(fd) < 0)
		rc = cli_error(EX_IOERR, "export: writing %s: %s", tmp, strerror(errno));
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = cli_error(EX_IOERR, "export: renaming to %s: %s", path, strerror(errno));
	if (rc != 0)
		unlink(tmp);
	else
		printf("%s: %u messages to %s\n", mb->name, done, path);
	free(o.buf);
	free(chunk);
	store_msg_list_free(&list);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Maildir */

struct existing {
	char **names; /* sorted file names in cur/ */
	size_t count;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void existing_load(const char *cur, struct existing *ex)
{
	memset(ex, 0, sizeof(*ex));
	DIR *d = opendir(cur);
	if (d == NULL)
		return;
	size_t cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (ex->count == cap) {
			cap = cap ? cap * 2 : 64;
			char **n = realloc(ex->names, cap * sizeof(*n));
			if (n == NULL)
				break;
			ex->names = n;
		}
		if ((ex->names[ex->count] = strdup(e->d_name)) != NULL)
			ex->count++;
	}
	closedir(d);
	if (ex->count > 0)
		qsort(ex->names, ex->count, sizeof(char *), name_cmp);
}

/* The existing file "<stem>,S=...:2,<flags>" (or "<stem>:2,...") of a
 * message, or NULL. */
static const char *existing_find(const struct existing *ex, const char *stem)
{
	size_t lo = 0, hi = ex->count, slen = strlen(stem);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(ex->names[mid], stem) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < ex->count && strncmp(ex->names[i], stem, slen) == 0; i++) {
		char c = ex->names[i][slen];
		if (c == ',' || c == ':' || c == '\0')
			return ex->names[i];
	}
	return NULL;
}

static void existing_free(struct existing *ex)
{
	for (size_t i = 0; i < ex->count; i++)
		free(ex->names[i]);
	free(ex->names);
	memset(ex, 0, sizeof(*ex));
}

/* Keyword names of the folder, in the order first seen (max 26). */
struct kwmap {
	char *names[MAILDIR_KEYWORDS_MAX];
	unsigned count;
	bool overflow;
};

static uint32_t kwmap_letters(struct kwmap *k, const char *keywords)
{
	uint32_t bits = 0;
	const char *p = keywords;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *s = p;
		while (*p && *p != ' ')
			p++;
		size_t n = (size_t)(p - s);
		if (n == 0)
			break;
		/* $Forwarded travels as the P flag. */
		if (n == 10 && strncasecmp(s, "$Forwarded", 10) == 0)
			continue;
		unsigned i;
		for (i = 0; i < k->count; i++)
			if (strlen(k->names[i]) == n && strncmp(k->names[i], s, n) == 0)
				break;
		if (i == k->count) {
			if (k->count == MAILDIR_KEYWORDS_MAX) {
				k->overflow = true;
				continue;
			}
			k->names[k->count] = strndup(s, n);
			if (k->names[k->count] == NULL)
				continue;
			k->count++;
		}
		bits |= 1u << i;
	}
	return bits;
}

static bool has_forwarded(const char *keywords)
{
	const char *p = keywords;
	while ((p = strcasestr(p, "$Forwarded")) != NULL) {
		bool start = p == keywords || p[-1] == ' ';
		bool end = p[10] == '\0' || p[10] == ' ';
		if (start && end)
			return true;
		p += 10;
	}
	return false;
}

static int write_text_file(const char *dir, const char *name, struct buf *content)
{
	char path[4200], tmp[4300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.roost-tmp", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (write_all(fd, buf_cstr(content), content->len) < 0 || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	return rename(tmp, path);
}

static int export_maildir_folder(struct store_user *u, const struct store_mailbox_info *mb,
				 const char *dir)
{
	char path[4300];
	static const char *const subdirs[] = { "", "/cur", "/new", "/tmp" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", dir, subdirs[i]);
		if (make_dirs(path, false) < 0)
			return cli_error(EX_CANTCREAT, "export: cannot create %s: %s", path,
					 strerror(errno));
	}
	struct store_msg_list *list = NULL;
	if (store_msg_list_load(u, mb->id, &list) < 0)
		return store_fail(mb->name);

	char cur[4300];
	snprintf(cur, sizeof(cur), "%s/cur", dir);
	struct existing ex;
	existing_load(cur, &ex);
	struct kwmap kw = { 0 };
	struct buf uidlist = BUF_INIT(0);
	buf_printf(&uidlist, "3 V%u N%u\n", list->uidvalidity, list->uidnext);
	struct out o = { .buf = malloc(EXPORT_CHUNK) };
	char *chunk = malloc(EXPORT_CHUNK);
	int rc = 0;
	unsigned written = 0, kept = 0;
	if (o.buf == NULL || chunk == NULL)
		rc = cli_error(EX_TEMPFAIL, "export: out of memory");

	for (uint32_t i = 0; rc == 0 && i < list->count; i++) {
		const struct store_msg *m = &list->msgs[i];
		const char *kws = store_msg_keywords(list, m);
		uint32_t letters = kwmap_letters(&kw, kws);
		char info[64];
		maildir_info_format(m->flags, has_forwarded(kws), letters, info, sizeof(info));
		/* The stem names the message; the S= size of an earlier
		 * export is read back from the existing file's name. */
		char stem[96], base[160];
		snprintf(stem, sizeof(stem), "%lld.R%ux%u.roost", (long long)m->internal_date,
			 list->uidvalidity, m->uid);
		const char *found = existing_find(&ex, stem);
		if (found != NULL) {
			struct maildir_name mn;
			maildir_name_parse(str_c(found), &mn);
			str_copy_cstr(mn.base, base, sizeof(base));
			char want[256], from[4900], to[4900];
			snprintf(want, sizeof(want), "%s%s", base, info);
			if (strcmp(want, found) != 0) {
				snprintf(from, sizeof(from), "%s/%s", cur, found);
				snprintf(to, sizeof(to), "%s/%s", cur, want);
				if (rename(from, to) < 0)
					rc = cli_error(EX_IOERR, "export: renaming %s: %s", from,
						       strerror(errno));
			}
			buf_printf(&uidlist, "%u :%s\n", m->uid, base);
			kept++;
			continue;
		}
		char tmp[4400];
		snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, stem);
		o.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (o.fd < 0) {
			rc = cli_error(EX_CANTCREAT, "export: cannot create %s: %s", tmp,
				       strerror(errno));
			break;
		}
		o.written = 0;
		o.err = 0;
		struct conv c;
		conv_init(&c, false);
		int ret = copy_message(u, m, &c, &o, chunk);
		out_flush(&o);
		if (ret <= 0 || o.err || fsync(o.fd) < 0) {
			close(o.fd);
			unlink(tmp);
			if (ret == 0)
				continue;
			rc = ret < 0 ? EX_TEMPFAIL
				     : cli_error(EX_IOERR, "export: writing %s: %s", tmp,
						 strerror(o.err ? o.err : errno));
			break;
		}
		/* mtime is the internal date (what Dovecot reads back). */
		struct timespec times[2] = { { (time_t)m->internal_date, 0 },
					     { (time_t)m->internal_date, 0 } };
		futimens(o.fd, times);
		close(o.fd);
		snprintf(base, sizeof(base), "%s,S=%llu,W=%u", stem, (unsigned long long)o.written,
			 m->size);
		char to[4900];
		snprintf(to, sizeof(to), "%s/%s%s", cur, base, info);
		if (rename(tmp, to) < 0) {
			rc = cli_error(EX_IOERR, "export: renaming to %s: %s", to, strerror(errno));
			unlink(tmp);
			break;
		}
		buf_printf(&uidlist, "%u :%s\n", m->uid, base);
		if (++written % PROGRESS_EVERY == 0) {
			printf("%s: %u of %u messages\n", mb->name, written + kept, list->count);
			fflush(stdout);
		}
	}
	if (rc == 0) {
		struct buf kwfile = BUF_INIT(0);
		for (unsigned i = 0; i < kw.count; i++)
			buf_printf(&kwfile, "%u %s\n", i, kw.names[i]);
		if ((kw.count > 0 && write_text_file(dir, "dovecot-keywords", &kwfile) < 0) ||
		    write_text_file(dir, "dovecot-uidlist", &uidlist) < 0)
			rc = cli_error(EX_IOERR, "export: writing the index files in %s: %s", dir,
				       strerror(errno));
		buf_free(&kwfile);
		if (kw.overflow)
			fprintf(stderr,
				"roost: export: %s: more than 26 keywords; the rest are not "
				"exported\n",
				mb->name);
		printf("%s: %u messages written, %u already there, to %s\n", mb->name, written,
		       kept, dir);
	}
	for (unsigned i = 0; i < kw.count; i++)
		free(kw.names[i]);
	buf_free(&uidlist);
	existing_free(&ex);
	free(o.buf);
	free(chunk);
	store_msg_list_free(&list);
	return rc;
}

/* ------------------------------------------------------------------ */

int cmd_export(int argc, char **argv)
{
	if (argc < 4 || argc > 5)
		return cli_usage_error("export: expected FORMAT USER PATH [FOLDER]");
	const char *format = argv[1], *user = argv[2], *path = argv[3];
	const char *folder = argc == 5 ? argv[4] : NULL;
	bool maildir = strcmp(format, "maildir") == 0;
	if (!maildir && strcmp(format, "mbox") != 0)
		return cli_usage_error("export: format must be mbox or maildir, not '%s'", format);

	int rc = open_store();
	if (rc != 0)
		return rc;
	struct auth_account acct;
	char err[256];
	int ret = auth_account_get(user, &acct, err, sizeof(err));
	if (ret < 0)
		return cli_error(EX_TEMPFAIL, "export: %s", err);
	if (ret == 0)
		return cli_error(EX_NOUSER, "export: %s: no such user", user);
	struct store_user *u = NULL;
	if (store_user_open(acct.user_key, &u) < 0)
		return store_fail(user);
	struct store_mailbox_list *list = NULL;
	if (store_mailbox_list(u, &list) < 0) {
		rc = store_fail(user);
		store_user_unref(&u);
		return rc;
	}
	bool found = false;
	for (size_t i = 0; i < list->count && rc == 0; i++) {
		const struct store_mailbox_info *mb = &list->items[i];
		if (mb->attrs & (STORE_MBOX_NOSELECT | STORE_MBOX_NONEXISTENT))
			continue;
		if (folder != NULL && strcmp(mb->name, folder) != 0 &&
		    !(strcasecmp(folder, "INBOX") == 0 && strcmp(mb->name, "INBOX") == 0))
			continue;
		found = true;
		char target[4200];
		if (maildir) {
			bool root = strcmp(mb->name, "INBOX") == 0 || folder != NULL;
			if (root) {
				snprintf(target, sizeof(target), "%s", path);
			} else {
				char enc[4096];
				if (maildir_mailbox_to_folder(str_c(mb->name), enc, sizeof(enc)) < 0) {
					fprintf(stderr, "roost: export: skipping %s (name)\n",
						mb->name);
					continue;
				}
				snprintf(target, sizeof(target), "%s/%s", path, enc);
			}
			rc = export_maildir_folder(u, mb, target);
		} else {
			if (folder != NULL)
				snprintf(target, sizeof(target), "%s", path);
			else
				snprintf(target, sizeof(target), "%s/%s.mbox", path, mb->name);
			rc = export_mbox_file(u, mb, target);
		}
	}
	if (rc == 0 && !found)
		rc = cli_error(EX_NOUSER, "export: %s: no such folder", folder ? folder : "(any)");
	store_mailbox_list_free(&list);
	store_user_unref(&u);
	return rc;
}
