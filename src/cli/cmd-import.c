/* cmd-import.c - `roost import maildir|mbox PATH USER [FOLDER]`.
 *
 * Copies mail from another server's files into a user's store:
 *
 *  maildir  PATH is a Maildir (cur/, new/) with Maildir++ subfolders
 *           (".Sub.Folder" is "Sub/Folder", names in modified UTF-7).
 *           The root goes to FOLDER (default INBOX), subfolders to their
 *           names (under FOLDER/ when FOLDER is given). Flags come from
 *           the ":2,<flags>" suffix (S \Seen, R \Answered, F \Flagged,
 *           T \Deleted, D \Draft, P the keyword $Forwarded), keywords
 *           from Dovecot's letters a..z and dovecot-keywords, the internal
 *           date from the file's mtime (what Dovecot uses as the received
 *           date). Messages are imported in UID order when a
 *           dovecot-uidlist or courierimapuiddb lists them, then in file
 *           name order (Maildir names start with the delivery time).
 *  mbox     PATH is an mbox file (into FOLDER, default INBOX) or a
 *           directory of them (each file "Sub/Name[.mbox]" into the folder
 *           "Sub/Name", under FOLDER/ when given). mboxrd unescaping,
 *           flags from Status: (R) and X-Status: (A F T D), keywords from
 *           X-Keywords:, the internal date from the "From " line. Those
 *           headers (and X-UID, X-IMAP, X-IMAPbase) are removed, as
 *           Dovecot does when it reads an mbox.
 *
 * Streaming: a message is never held whole. Its bytes go, normalised to
 * CRLF, straight into a store blob while a SHA-256 of them is computed.
 *
 * UIDs: when the source names its UIDs (dovecot-uidlist or
 * courierimapuiddb; in an mbox X-IMAPbase/X-UID or UW-IMAP's X-IMAP) and
 * the target mailbox never held a message, the mailbox takes the source's
 * UIDVALIDITY (store_mailbox_set_uidvalidity) and each listed message its
 * UID (store_append_req.uid), so clients that synced the old server keep
 * their caches. Otherwise UIDs are renumbered, in the source's UID order.
 *
 * Safe to re-run: with kept UIDs, a message whose UID the mailbox has
 * used already is skipped unread. Otherwise, before importing into a
 * mailbox, the SHA-256 of every message already in it is computed
 * (reading them once); a source message whose digest matches one that is
 * not yet matched is skipped (so two identical messages in the source are
 * both kept). A second run imports nothing; an interrupted run resumes
 * where it stopped. See docs/delivery.md.
 *
 * Batches: messages are appended IMPORT_BATCH at a time (or fewer when
 * they pass IMPORT_BATCH_BYTES) with store_append_multi, one transaction
 * each: one WAL commit and one fsync per message directory per batch
 * instead of per message. A batch is all or nothing, so an interrupted
 * run loses at most the batch in progress, which a re-run imports.
 *
 * Exit codes: 0, 64 usage, 66 PATH missing or unreadable, 67 no such
 * user, 73 over quota, 75 temporary store error, 65 malformed input that
 * stopped the import. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "auth/auth.h"
#include "cli/cli.h"
#include "cli/maildir.h"
#include "cli/mbox.h"
#include "lib/buf.h"
#include "lib/config.h"
#include "store/store.h"

#define IMPORT_READ_SIZE (64 * 1024)
#define IMPORT_WBUF_SIZE (64 * 1024)
/* A header section longer than this is written unfiltered. */
#define IMPORT_HEADER_MAX (256 * 1024)
#define IMPORT_DIGEST_LEN 16
#define PROGRESS_EVERY 500
/* Messages per store transaction (each keeps an open temp file until its
 * batch is appended), and the bytes after which a batch goes early. */
#define IMPORT_BATCH 256
#define IMPORT_BATCH_BYTES (64u * 1024 * 1024)

static int open_store(void)
{
	int rc = cli_auth_open();
	return rc != 0 ? rc : cli_store_open();
}

static int exit_for_store(enum store_error e)
{
	switch (e) {
	case STORE_ERR_OVERQUOTA:
		return EX_CANTCREAT;
	case STORE_ERR_BADNAME:
	case STORE_ERR_LIMIT:
		return EX_DATAERR;
	case STORE_ERR_NONEXISTENT:
		return EX_NOUSER;
	default:
		return EX_TEMPFAIL;
	}
}

static int store_fail(const char *what)
{
	const char *msg;
	enum store_error e = store_error(&msg);
	return cli_error(exit_for_store(e), "import: %s: %s", what, msg);
}

/* ------------------------------------------------------------------ */
/* CRLF normalisation + digest, shared with the existing-message index */

struct digest {
	EVP_MD_CTX *md;
	bool prev_cr;
};

static int digest_begin(struct digest *d)
{
	d->prev_cr = false;
	d->md = EVP_MD_CTX_new();
	if (d->md == NULL || EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) != 1)
		return -1;
	return 1;
}

static void digest_end(struct digest *d, uint8_t out[IMPORT_DIGEST_LEN])
{
	unsigned char full[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_DigestFinal_ex(d->md, full, &n);
	memcpy(out, full, IMPORT_DIGEST_LEN);
	EVP_MD_CTX_free(d->md);
	d->md = NULL;
}

static void digest_free(struct digest *d)
{
	EVP_MD_CTX_free(d->md);
	d->md = NULL;
}

/* ------------------------------------------------------------------ */
/* the messages already in a mailbox */

struct known {
	uint8_t (*keys)[IMPORT_DIGEST_LEN];
	bool *used;
	size_t count;
};

static int key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, IMPORT_DIGEST_LEN);
}

static void known_free(struct known *k)
{
	free(k->keys);
	free(k->used);
	memset(k, 0, sizeof(*k));
}

/* Digests every message of the mailbox (stored bytes are CRLF already),
 * and notes its UIDVALIDITY and UIDNEXT. */
static int known_load(struct store_user *u, uint64_t mailbox_id, struct known *k,
		      uint32_t *uidvalidity_r, uint32_t *uidnext_r)
{
	memset(k, 0, sizeof(*k));
	struct store_msg_list *list = NULL;
	if (store_msg_list_load(u, mailbox_id, &list) < 0)
		return store_fail("reading the mailbox");
	*uidvalidity_r = list->uidvalidity;
	*uidnext_r = list->uidnext;
	if (list->count == 0) {
		store_msg_list_free(&list);
		return 0;
	}
	k->keys = calloc(list->count, IMPORT_DIGEST_LEN);
	k->used = calloc(list->count, sizeof(bool));
	char *buf = malloc(IMPORT_READ_SIZE);
	if (k->keys == NULL || k->used == NULL || buf == NULL) {
		free(buf);
		store_msg_list_free(&list);
		known_free(k);
		return cli_error(EX_TEMPFAIL, "import: out of memory");
	}
	for (uint32_t i = 0; i < list->count; i++) {
		int fd;
		uint64_t size;
		int ret = store_msg_open(u, list->msgs[i].blob_id, &fd, &size);
		if (ret == 0)
			continue; /* expunged meanwhile */
		if (ret < 0) {
			free(buf);
			store_msg_list_free(&list);
			known_free(k);
			return store_fail("reading a stored message");
		}
		struct digest d;
		if (digest_begin(&d) < 0) {
			close(fd);
			free(buf);
			store_msg_list_free(&list);
			known_free(k);
			return cli_error(EX_SOFTWARE, "import: no SHA-256");
		}
		ssize_t n;
		while ((n = read(fd, buf, IMPORT_READ_SIZE)) > 0)
			EVP_DigestUpdate(d.md, buf, (size_t)n);
		close(fd);
		digest_end(&d, k->keys[k->count++]);
	}
	free(buf);
	store_msg_list_free(&list);
	qsort(k->keys, k->count, IMPORT_DIGEST_LEN, key_cmp);
	return 0;
}

/* True (and marks it) when an unmatched stored message has this digest. */
static bool known_take(struct known *k, const uint8_t key[IMPORT_DIGEST_LEN])
{
	size_t lo = 0, hi = k->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(k->keys[mid], key, IMPORT_DIGEST_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < k->count && memcmp(k->keys[i], key, IMPORT_DIGEST_LEN) == 0; i++) {
		if (!k->used[i]) {
			k->used[i] = true;
			return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* one target mailbox and one message being imported */

struct target {
	struct store_user *u;
	char name[STORE_MAILBOX_NAME_MAX + 1];
	uint64_t mailbox_id;
	struct known known;
	uint32_t uidvalidity;
	uint32_t uidnext;  /* the mailbox's UIDNEXT, kept up to date */
	bool keep_uids;    /* appending with the source's UIDs */
	unsigned seen, imported, skipped, failed;
	unsigned size_mismatches; /* Maildir files whose size is not their S= */
	/* Messages read but not yet appended (target_flush). */
	struct store_blob *batch_blobs[IMPORT_BATCH];
	struct store_append_req batch_reqs[IMPORT_BATCH];
	char *batch_keywords[IMPORT_BATCH];
	uint32_t batch_uids[IMPORT_BATCH];
	unsigned nbatch;
	uint64_t batch_bytes;
	bool batch_has_new; /* a queued message takes the next UID (no kept UID) */
};

struct msg {
	struct store_blob *blob;
	struct digest d;
	char *wbuf;
	size_t wlen;
	int error; /* exit code of the first failure, 0 if none */
};

static int target_open(struct store_user *u, const char *name, struct target *t)
{
	memset(t, 0, sizeof(*t));
	t->u = u;
	char name_buf[STORE_MAILBOX_NAME_MAX + 1];
	struct store_mailbox_info info;
	int ret = store_mailbox_lookup(u, name, &info, name_buf);
	if (ret < 0)
		return store_fail(name);
	if (ret == 0 || (info.attrs & STORE_MBOX_NOSELECT)) {
		if (store_mailbox_create(u, name, 0, &t->mailbox_id) < 0)
			return store_fail(name);
	} else {
		t->mailbox_id = info.id;
	}
	snprintf(t->name, sizeof(t->name), "%s", name);
	int rc = known_load(u, t->mailbox_id, &t->known, &t->uidvalidity, &t->uidnext);
	if (rc != 0)
		return rc;
	printf("%s: %zu messages already there\n", t->name, t->known.count);
	fflush(stdout);
	return 0;
}

/* Appends the batch in one transaction. Returns 0 or an exit code that
 * must stop the import. */
static int target_flush(struct target *t)
{
	unsigned n = t->nbatch;
	if (n == 0)
		return 0;
	uint32_t uidvalidity;
	int rc = 0;
	if (store_append_multi(t->u, t->mailbox_id, t->batch_blobs, t->batch_reqs, n,
			       t->batch_uids, &uidvalidity) < 0) {
		const char *msg;
		enum store_error e = store_error(&msg);
		t->failed += n;
		/* Quota, disk and database trouble stop the import (a re-run
		 * continues); otherwise the batch is reported and the import
		 * goes on. (Keywords and UIDs were checked before queueing, so
		 * the latter is rare.) */
		if (e == STORE_ERR_OVERQUOTA || e == STORE_ERR_TEMPFAIL || e == STORE_ERR_INUSE ||
		    e == STORE_ERR_NONEXISTENT || e == STORE_ERR_CORRUPT || e == STORE_ERR_INTERNAL)
			rc = cli_error(exit_for_store(e), "import: %s: %s", t->name, msg);
		else
			fprintf(stderr, "roost: import: %s: %u messages not imported: %s\n", t->name,
				n, msg);
	} else {
		t->imported += n;
		for (unsigned i = 0; i < n; i++)
			if (t->batch_uids[i] >= t->uidnext)
				t->uidnext = t->batch_uids[i] + 1;
	}
	for (unsigned i = 0; i < n; i++) {
		free(t->batch_keywords[i]);
		t->batch_keywords[i] = NULL;
		t->batch_blobs[i] = NULL; /* consumed either way */
	}
	t->nbatch = 0;
	t->batch_bytes = 0;
	t->batch_has_new = false;
	return rc;
}

/* Appends what is queued and reports. Returns 0 or an exit code. */
static int target_close(struct target *t)
{
	int rc = target_flush(t);
	if (t->size_mismatches > 3)
		fprintf(stderr, "roost: import: %s: %u files in all differ from their S= size\n",
			t->name, t->size_mismatches);
	printf("%s: done, %u messages read, %u imported, %u already there, %u failed\n",
	       t->name, t->seen, t->imported, t->skipped, t->failed);
	fflush(stdout);
	known_free(&t->known);
	return rc;
}

static void msg_flush(struct msg *m)
{
	if (m->wlen == 0 || m->error)
		return;
	if (store_blob_write(m->blob, m->wbuf, m->wlen) < 0)
		m->error = store_fail("writing a message");
	m->wlen = 0;
}

static void msg_put(struct msg *m, const char *p, size_t n)
{
	EVP_DigestUpdate(m->d.md, p, n);
	while (n > 0) {
		size_t room = IMPORT_WBUF_SIZE - m->wlen;
		size_t k = n < room ? n : room;
		memcpy(m->wbuf + m->wlen, p, k);
		m->wlen += k;
		p += k;
		n -= k;
		if (m->wlen == IMPORT_WBUF_SIZE)
			msg_flush(m);
	}
}

static int msg_begin(struct target *t, struct msg *m)
{
	memset(m, 0, sizeof(*m));
	m->wbuf = malloc(IMPORT_WBUF_SIZE);
	if (m->wbuf == NULL || digest_begin(&m->d) < 0) {
		free(m->wbuf);
		digest_free(&m->d);
		return cli_error(EX_TEMPFAIL, "import: out of memory");
	}
	/* The normalisation is done here, so the digest sees the bytes the
	 * store keeps. */
	if (store_blob_begin(t->u, false, &m->blob) < 0) {
		free(m->wbuf);
		digest_free(&m->d);
		return store_fail("starting a message");
	}
	return 0;
}

/* Writes content, turning bare LF and bare CR into CRLF. */
static void msg_write(struct msg *m, const char *p, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (m->d.prev_cr && c != '\n') {
			msg_put(m, p + run, i - run);
			msg_put(m, "\n", 1);
			run = i;
		}
		if (c == '\n' && !m->d.prev_cr) {
			msg_put(m, p + run, i - run);
			msg_put(m, "\r", 1);
			run = i;
		}
		m->d.prev_cr = c == '\r';
	}
	msg_put(m, p + run, n - run);
}

static void msg_abort(struct msg *m)
{
	store_blob_abort(&m->blob);
	digest_free(&m->d);
	free(m->wbuf);
	m->wbuf = NULL;
}

/* Appends the message unless the mailbox has it already. Returns 0 or an
 * exit code that must stop the import. */
static int msg_finish(struct target *t, struct msg *m, uint8_t flags, const char *keywords,
		      int64_t internal_date, int tz_minutes, uint32_t want_uid)
{
	t->seen++;
	if (m->d.prev_cr)
		msg_put(m, "\n", 1); /* a bare CR at the very end */
	msg_flush(m);
	if (m->error) {
		int rc = m->error;
		msg_abort(m);
		t->failed++;
		return rc;
	}
	uint8_t key[IMPORT_DIGEST_LEN];
	digest_end(&m->d, key);
	free(m->wbuf);
	m->wbuf = NULL;
	if (want_uid == UINT32_MAX) {
		/* UIDNEXT (the UID plus one) must fit in 32 bits, so the
		 * largest UID cannot be kept. Refused alone here, not with
		 * the whole batch it would have joined. */
		store_blob_abort(&m->blob);
		t->failed++;
		fprintf(stderr, "roost: import: %s: a message with UID %u cannot keep it\n",
			t->name, want_uid);
		return 0;
	}
	if (want_uid != 0 && want_uid < t->uidnext) {
		/* Imported before: UIDs are never reused. */
		store_blob_abort(&m->blob);
		t->skipped++;
		return 0;
	}
	/* A message with a kept UID was checked by UID before it was read;
	 * the others by content. */
	if (want_uid == 0 && known_take(&t->known, key)) {
		store_blob_abort(&m->blob);
		t->skipped++;
	} else if (store_blob_size(m->blob) == 0) {
		store_blob_abort(&m->blob);
		t->failed++;
		fprintf(stderr, "roost: import: %s: skipped an empty message\n", t->name);
	} else {
		/* Queued for the next batch; a kept UID moves UIDNEXT now, so
		 * a later message of the source with a UID not above it counts
		 * as imported before, as it would one at a time. */
		/* A kept UID after a message that takes the next UID: the
		 * latter's UID is known only once appended, so append first
		 * (t->uidnext is then exact for the check above). */
		if (want_uid != 0 && t->batch_has_new) {
			int rc = target_flush(t);
			if (rc != 0) {
				store_blob_abort(&m->blob);
				return rc;
			}
			if (want_uid < t->uidnext) {
				store_blob_abort(&m->blob);
				t->skipped++;
				return 0;
			}
		}
		char *kw = keywords != NULL ? strdup(keywords) : NULL;
		if (keywords != NULL && kw == NULL) {
			store_blob_abort(&m->blob);
			t->failed++;
			return cli_error(EX_TEMPFAIL, "import: out of memory");
		}
		unsigned i = t->nbatch++;
		t->batch_keywords[i] = kw;
		t->batch_reqs[i] = (struct store_append_req){
			.flags = flags & STORE_FLAG_MASK,
			.keywords = kw,
			.internal_date = internal_date,
			.tz_minutes = (int16_t)tz_minutes,
			.uid = want_uid,
		};
		t->batch_bytes += store_blob_size(m->blob);
		t->batch_blobs[i] = m->blob;
		m->blob = NULL;
		if (want_uid != 0)
			t->uidnext = want_uid + 1;
		else
			t->batch_has_new = true;
		if (t->nbatch == IMPORT_BATCH || t->batch_bytes >= IMPORT_BATCH_BYTES) {
			int rc = target_flush(t);
			if (rc != 0)
				return rc;
		}
	}
	if (t->seen % PROGRESS_EVERY == 0) {
		printf("%s: %u messages read, %u imported, %u already there\n", t->name, t->seen,
		       t->imported, t->skipped);
		fflush(stdout);
	}
	return 0;
}

/* Keywords valid for the store, joined by spaces into out. */
static void keywords_add(char *out, size_t cap, struct str kw)
{
	if (kw.len == 0 || !store_keyword_valid(kw.p, kw.len))
		return;
	size_t len = strlen(out);
	if (len + kw.len + 2 > cap)
		return;
	if (len > 0)
		out[len++] = ' ';
	memcpy(out + len, kw.p, kw.len);
	out[len + kw.len] = '\0';
}

/* ------------------------------------------------------------------ */
/* Maildir */

struct md_entry {
	char *name;   /* file name in its directory */
	bool is_new;  /* in new/ rather than cur/ */
	uint32_t uid; /* from the UID list, 0 if not listed */
};

struct md_list {
	struct md_entry *items;
	size_t count, cap;
};

static int md_entry_cmp(const void *a, const void *b)
{
	const struct md_entry *x = a, *y = b;
	if (x->uid != 0 && y->uid != 0)
		return x->uid < y->uid ? -1 : x->uid > y->uid;
	if (x->uid != 0 || y->uid != 0)
		return x->uid != 0 ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int md_scan(const char *dir, bool is_new, struct md_list *l)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (l->count == l->cap) {
			size_t cap = l->cap ? l->cap * 2 : 256;
			struct md_entry *n = realloc(l->items, cap * sizeof(*n));
			if (n == NULL) {
				closedir(d);
				return -1;
			}
			l->items = n;
			l->cap = cap;
		}
		char *name = strdup(e->d_name);
		if (name == NULL) {
			closedir(d);
			return -1;
		}
		l->items[l->count++] = (struct md_entry){ name, is_new, 0 };
	}
	closedir(d);
	return 0;
}

static void md_list_free(struct md_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i].name);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* Reads a small text file line by line (index files). */
static int for_each_line(const char *path, int (*fn)(void *ctx, struct str line, unsigned n),
			 void *ctx)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	unsigned n = 0;
	while ((len = getline(&line, &cap, f)) >= 0) {
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (fn(ctx, str_make(line, (size_t)len), n++) < 0)
			break;
	}
	free(line);
	fclose(f);
	return 1;
}

struct uidlist_ctx {
	struct maildir_uidlist_header header;
	struct md_list *list;
	/* Sorted copy of base names for lookup: index into list. */
	size_t *order;
	unsigned matched;
};

static const struct md_list *sort_list;
static struct str entry_base(const struct md_entry *e)
{
	struct maildir_name n;
	maildir_name_parse(str_c(e->name), &n);
	return n.base;
}

static int base_cmp(const void *a, const void *b)
{
	struct str x = entry_base(&sort_list->items[*(const size_t *)a]);
	struct str y = entry_base(&sort_list->items[*(const size_t *)b]);
	size_t n = x.len < y.len ? x.len : y.len;
	int c = memcmp(x.p, y.p, n);
	return c != 0 ? c : (x.len > y.len) - (x.len < y.len);
}

static int uidlist_line(void *vctx, struct str line, unsigned n)
{
	struct uidlist_ctx *ctx = vctx;
	if (n == 0)
		return maildir_uidlist_header_parse(line, &ctx->header) < 0 ? -1 : 0;
	uint32_t uid;
	struct str base;
	if (maildir_uidlist_record_parse(ctx->header.version, line, &uid, &base) != 1)
		return 0;
	size_t lo = 0, hi = ctx->list->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct str b = entry_base(&ctx->list->items[ctx->order[mid]]);
		size_t k = b.len < base.len ? b.len : base.len;
		int c = memcmp(b.p, base.p, k);
		if (c == 0)
			c = (b.len > base.len) - (b.len < base.len);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < ctx->list->count && str_eq(entry_base(&ctx->list->items[ctx->order[lo]]), base)) {
		ctx->list->items[ctx->order[lo]].uid = uid;
		ctx->matched++;
	}
	return 0;
}

struct keywords_ctx {
	char names[MAILDIR_KEYWORDS_MAX][STORE_KEYWORD_MAX + 1];
};

static int keywords_line(void *vctx, struct str line, unsigned n)
{
	struct keywords_ctx *ctx = vctx;
	unsigned idx;
	struct str kw;
	if (maildir_keywords_line_parse(line, &idx, &kw) == 1 && kw.len <= STORE_KEYWORD_MAX)
		str_copy_cstr(kw, ctx->names[idx], sizeof(ctx->names[idx]));
	return 0;
}

static int import_maildir_file(struct target *t, const char *path, const struct md_entry *e,
			       const struct keywords_ctx *kws)
{
	if (t->keep_uids && e->uid != 0 && e->uid < t->uidnext) {
		/* Imported before (or expunged here after an import): UIDs
		 * are never reused. */
		t->seen++;
		t->skipped++;
		return 0;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* moved by a running server meanwhile */
		fprintf(stderr, "roost: import: %s: %s\n", path, strerror(errno));
		t->failed++;
		return 0;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	struct msg m;
	int rc = msg_begin(t, &m);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	char *buf = malloc(IMPORT_READ_SIZE);
	ssize_t n = -1;
	while (buf != NULL && (n = read(fd, buf, IMPORT_READ_SIZE)) > 0 && !m.error)
		msg_write(&m, buf, (size_t)n);
	free(buf);
	close(fd);
	if (n < 0) {
		fprintf(stderr, "roost: import: %s: %s\n", path, strerror(errno));
		msg_abort(&m);
		t->failed++;
		return 0;
	}
	struct maildir_name mn;
	maildir_name_parse(str_c(e->name), &mn);
	/* Dovecot's ",S=" is the file size: a mismatch means the file was
	 * cut short or changed; import what is there, but say so. */
	if (mn.size != 0 && (uint64_t)st.st_size != mn.size && t->size_mismatches++ < 3)
		fprintf(stderr, "roost: import: %s: %lld bytes, but its name says S=%llu\n", path,
			(long long)st.st_size, (unsigned long long)mn.size);
	uint8_t flags = e->is_new ? 0 : mn.flags;
	char keywords[MAILDIR_KEYWORDS_MAX * (STORE_KEYWORD_MAX + 1) + 16] = "";
	if (!e->is_new) {
		if (mn.passed)
			keywords_add(keywords, sizeof(keywords), STR_LIT("$Forwarded"));
		for (unsigned i = 0; i < MAILDIR_KEYWORDS_MAX; i++)
			if ((mn.keywords & (1u << i)) && kws->names[i][0])
				keywords_add(keywords, sizeof(keywords), str_c(kws->names[i]));
	}
	return msg_finish(t, &m, flags, keywords, (int64_t)st.st_mtime, 0,
			  t->keep_uids ? e->uid : 0);
}

static int import_maildir_folder(struct store_user *u, const char *dir, const char *mailbox)
{
	char path[4096];
	struct md_list list = { 0 };
	snprintf(path, sizeof(path), "%s/cur", dir);
	if (md_scan(path, false, &list) < 0)
		return cli_error(EX_NOINPUT, "import: cannot read %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/new", dir);
	if (md_scan(path, true, &list) < 0) {
		md_list_free(&list);
		return cli_error(EX_NOINPUT, "import: cannot read %s: %s", path, strerror(errno));
	}

	/* UIDs for the order: Dovecot's list, else Courier's. */
	struct uidlist_ctx uctx = { .list = &list };
	uctx.order = malloc((list.count + 1) * sizeof(size_t));
	if (uctx.order == NULL) {
		md_list_free(&list);
		return cli_error(EX_TEMPFAIL, "import: out of memory");
	}
	for (size_t i = 0; i < list.count; i++)
		uctx.order[i] = i;
	sort_list = &list;
	qsort(uctx.order, list.count, sizeof(size_t), base_cmp);
	snprintf(path, sizeof(path), "%s/dovecot-uidlist", dir);
	if (!for_each_line(path, uidlist_line, &uctx)) {
		snprintf(path, sizeof(path), "%s/courierimapuiddb", dir);
		for_each_line(path, uidlist_line, &uctx);
	}
	free(uctx.order);
	if (list.count > 0)
		qsort(list.items, list.count, sizeof(list.items[0]), md_entry_cmp);

	struct keywords_ctx kws;
	memset(&kws, 0, sizeof(kws));
	snprintf(path, sizeof(path), "%s/dovecot-keywords", dir);
	for_each_line(path, keywords_line, &kws);

	struct target t;
	int rc = target_open(u, mailbox, &t);
	if (rc != 0) {
		md_list_free(&list);
		return rc;
	}
	/* Keep the old server's UIDVALIDITY and UIDs when the mailbox is
	 * new here (never held a message) or was imported from the same
	 * source before; otherwise the order is kept and UIDs renumbered. */
	uint32_t src_uv = uctx.header.uidvalidity;
	if (src_uv != 0 && uctx.matched > 0) {
		if (t.uidvalidity == src_uv) {
			t.keep_uids = true;
		} else if (t.uidnext == 1 && t.known.count == 0 &&
			   store_mailbox_set_uidvalidity(u, t.mailbox_id, src_uv) > 0) {
			t.uidvalidity = src_uv;
			t.keep_uids = true;
		}
		printf("%s: source UIDVALIDITY %u, %u of %zu messages with UIDs: %s\n", mailbox,
		       src_uv, uctx.matched, list.count,
		       t.keep_uids ? "UIDVALIDITY and UIDs kept"
				   : "the mailbox already had other mail here, UIDs renumbered");
		fflush(stdout);
	}
	for (size_t i = 0; i < list.count && rc == 0; i++) {
		const struct md_entry *e = &list.items[i];
		snprintf(path, sizeof(path), "%s/%s/%s", dir, e->is_new ? "new" : "cur", e->name);
		rc = import_maildir_file(&t, path, e, &kws);
	}
	int close_rc = target_close(&t);
	md_list_free(&list);
	return rc != 0 ? rc : close_rc;
}

static int join_mailbox(const char *base, const char *sub, char *out, size_t cap)
{
	int n = base && base[0] ? snprintf(out, cap, "%s/%s", base, sub)
				: snprintf(out, cap, "%s", sub);
	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int import_maildir(struct store_user *u, const char *root, const char *folder)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/cur", root);
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return cli_error(EX_NOINPUT, "import: %s is not a Maildir (no cur/)", root);

	int rc = import_maildir_folder(u, root, folder ? folder : "INBOX");
	if (rc != 0)
		return rc;

	DIR *d = opendir(root);
	if (d == NULL)
		return cli_error(EX_NOINPUT, "import: cannot read %s: %s", root, strerror(errno));
	/* Folder names, sorted so parents come before children. */
	char **subs = NULL;
	size_t n_subs = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' || !strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s/cur", root, e->d_name);
		if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (n_subs == cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(subs, cap * sizeof(*nv));
			if (nv == NULL)
				break;
			subs = nv;
		}
		subs[n_subs] = strdup(e->d_name);
		if (subs[n_subs] != NULL)
			n_subs++;
	}
	closedir(d);
	for (size_t i = 1; i < n_subs; i++) {
		for (size_t j = i; j > 0 && strcmp(subs[j - 1], subs[j]) > 0; j--) {
			char *tmp = subs[j];
			subs[j] = subs[j - 1];
			subs[j - 1] = tmp;
		}
	}
	for (size_t i = 0; i < n_subs && rc == 0; i++) {
		char name[STORE_MAILBOX_NAME_MAX + 1], full[STORE_MAILBOX_NAME_MAX + 1];
		if (maildir_folder_to_mailbox(str_c(subs[i]), name, sizeof(name)) < 0 ||
		    join_mailbox(folder, name, full, sizeof(full)) < 0) {
			fprintf(stderr, "roost: import: skipping folder %s (bad name)\n", subs[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", root, subs[i]);
		rc = import_maildir_folder(u, path, full);
	}
	for (size_t i = 0; i < n_subs; i++)
		free(subs[i]);
	free(subs);
	return rc;
}

/* ------------------------------------------------------------------ */
/* mbox */

struct mbox_msg {
	struct msg m;
	bool in_header;
	struct buf header;
	/* Dovecot/UW-IMAP UID headers: X-UID of this message, X-IMAPbase
	 * (Dovecot, in the first message) or X-IMAP (UW-IMAP's pseudo
	 * message, which is not mail) with the folder's UIDVALIDITY. */
	uint32_t x_uid;
	uint32_t base_uidvalidity;
	bool pseudo;
	uint8_t flags;
	char status[16], x_status[16];
	char keywords[1024];
	int64_t date;
	int tz;
};

static bool drop_field(struct str name)
{
	static const char *const names[] = { "Status",     "X-Status", "X-Keywords", "X-UID",
					     "X-IMAP",     "X-IMAPbase" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (str_eq_cstr_nocase(name, names[i]))
			return true;
	return false;
}

/* Filters the collected header section into the message. */
static void mbox_header_out(struct mbox_msg *mm)
{
	struct str h = buf_str(&mm->header);
	size_t i = 0;
	bool dropping = false;
	while (i < h.len) {
		const char *nl = memchr(h.p + i, '\n', h.len - i);
		size_t end = nl ? (size_t)(nl - h.p) + 1 : h.len;
		struct str line = str_make(h.p + i, end - i);
		bool cont = line.len > 0 && (line.p[0] == ' ' || line.p[0] == '\t');
		if (!cont) {
			long colon = str_find_char(line, ':');
			dropping = false;
			if (colon > 0 && drop_field(str_make(line.p, (size_t)colon))) {
				dropping = true;
				struct str name = str_make(line.p, (size_t)colon);
				struct str v = str_trim(
					str_make(line.p + colon + 1, line.len - (size_t)colon - 1));
				if (str_eq_cstr_nocase(name, "Status"))
					str_copy_cstr(v, mm->status, sizeof(mm->status));
				else if (str_eq_cstr_nocase(name, "X-Status"))
					str_copy_cstr(v, mm->x_status, sizeof(mm->x_status));
				else if (str_eq_cstr_nocase(name, "X-UID"))
					(void)str_to_u32(v, &mm->x_uid);
				else if (str_eq_cstr_nocase(name, "X-IMAPbase") ||
					 str_eq_cstr_nocase(name, "X-IMAP")) {
					/* "<uidvalidity> <uidnext> [keywords]" */
					long sp = str_find_char(v, ' ');
					struct str uv = sp < 0 ? v : str_make(v.p, (size_t)sp);
					(void)str_to_u32(uv, &mm->base_uidvalidity);
					if (name.len == 6)
						mm->pseudo = true;
				} else if (str_eq_cstr_nocase(name, "X-Keywords")) {
					/* Space or comma separated. */
					size_t k = 0;
					while (k < v.len) {
						while (k < v.len && (v.p[k] == ' ' || v.p[k] == ','))
							k++;
						size_t s = k;
						while (k < v.len && v.p[k] != ' ' && v.p[k] != ',')
							k++;
						keywords_add(mm->keywords, sizeof(mm->keywords),
							     str_make(v.p + s, k - s));
					}
				}
			}
		}
		if (!dropping)
			msg_write(&mm->m, line.p, line.len);
		i = end;
	}
	buf_free(&mm->header);
	mm->in_header = false;
}

/* The first message named the folder's UIDVALIDITY: keep it and the
 * X-UIDs when the mailbox is new here or came from the same source. */
static void mbox_keep_uids(struct store_user *u, struct target *t, uint32_t uidvalidity)
{
	if (t->uidvalidity == uidvalidity) {
		t->keep_uids = true;
	} else if (t->uidnext == 1 && t->known.count == 0 &&
		   store_mailbox_set_uidvalidity(u, t->mailbox_id, uidvalidity) > 0) {
		t->uidvalidity = uidvalidity;
		t->keep_uids = true;
	}
	printf("%s: source UIDVALIDITY %u: %s\n", t->name, uidvalidity,
	       t->keep_uids ? "UIDVALIDITY and UIDs kept"
			    : "the mailbox already had other mail here, UIDs renumbered");
	fflush(stdout);
}

static void m_fail_oom(struct mbox_msg *mm)
{
	if (!mm->m.error)
		mm->m.error = cli_error(EX_TEMPFAIL, "import: out of memory");
}

/* Content while in the header section: collect until the empty line. */
static void mbox_header_data(struct mbox_msg *mm, struct str text)
{
	size_t old = mm->header.len;
	if (buf_append_str(&mm->header, text) < 0) {
		/* Too long to be a header section: write it as it is. */
		msg_write(&mm->m, mm->header.data, mm->header.len);
		msg_write(&mm->m, text.p, text.len);
		buf_free(&mm->header);
		mm->in_header = false;
		return;
	}
	/* The header section ends with the first empty line (kept with
	 * the header). Only line starts near the new bytes need a look. */
	struct str h = buf_str(&mm->header);
	for (size_t i = old > 2 ? old - 2 : 0; i < h.len; i++) {
		if (i > 0 && h.p[i - 1] != '\n')
			continue;
		size_t end;
		if (h.p[i] == '\n')
			end = i + 1;
		else if (h.p[i] == '\r' && i + 1 < h.len && h.p[i + 1] == '\n')
			end = i + 2;
		else
			continue;
		struct buf rest = BUF_INIT(0);
		if (buf_append(&rest, h.p + end, h.len - end) < 0) {
			m_fail_oom(mm);
			return;
		}
		buf_truncate(&mm->header, end);
		mbox_header_out(mm);
		msg_write(&mm->m, buf_cstr(&rest), rest.len);
		buf_free(&rest);
		return;
	}
}

static int import_mbox_file(struct store_user *u, const char *path, const char *mailbox)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cli_error(EX_NOINPUT, "import: %s: %s", path, strerror(errno));
	/* The mailbox is opened (and created) with the first message, so a
	 * file that is not an mbox (an index, a .msf) creates nothing. */
	struct target t;
	bool have_target = false;
	int rc = 0;
	struct mbox_parser p;
	mbox_parser_init(&p);
	struct mbox_msg mm;
	memset(&mm, 0, sizeof(mm));
	bool open_msg = false;
	char *buf = malloc(IMPORT_READ_SIZE);
	if (buf == NULL) {
		close(fd);
		return cli_error(EX_TEMPFAIL, "import: out of memory");
	}
	bool eof = false;
	while (rc == 0) {
		ssize_t n = 0;
		if (!eof) {
			n = read(fd, buf, IMPORT_READ_SIZE);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = cli_error(EX_IOERR, "import: %s: %s", path, strerror(errno));
				break;
			}
			if (n == 0)
				eof = true;
		}
		size_t pos = 0;
		for (;;) {
			struct mbox_item item;
			size_t used = 0;
			int ret;
			if (eof && n == 0) {
				ret = mbox_parser_finish(&p, &item);
			} else {
				ret = mbox_parser_feed(&p, buf + pos, (size_t)n - pos, &used, &item);
				pos += used;
			}
			if (ret == 0)
				break;
			if (item.type == MBOX_ITEM_BEGIN) {
				if (!have_target) {
					rc = target_open(u, mailbox, &t);
					if (rc != 0)
						break;
					have_target = true;
				}
				memset(&mm, 0, sizeof(mm));
				mm.header = BUF_INIT(IMPORT_HEADER_MAX);
				mm.in_header = true;
				if (mbox_from_line_date(item.text, &mm.date, &mm.tz) < 0) {
					mm.date = 0;
					mm.tz = 0;
				}
				rc = msg_begin(&t, &mm.m);
				if (rc != 0)
					break;
				open_msg = true;
			} else if (item.type == MBOX_ITEM_DATA) {
				if (!open_msg)
					continue;
				if (mm.in_header)
					mbox_header_data(&mm, item.text);
				else
					msg_write(&mm.m, item.text.p, item.text.len);
			} else if (open_msg) {
				if (mm.in_header)
					mbox_header_out(&mm);
				open_msg = false;
				uint8_t flags = mbox_status_flags(str_c(mm.status), str_c(mm.x_status));
				if (t.seen == 0 && mm.base_uidvalidity != 0)
					mbox_keep_uids(u, &t, mm.base_uidvalidity);
				if (mm.pseudo) {
					/* UW-IMAP's "DON'T DELETE THIS MESSAGE" holder. */
					msg_abort(&mm.m);
					continue;
				}
				rc = msg_finish(&t, &mm.m, flags, mm.keywords, mm.date, mm.tz,
						t.keep_uids ? mm.x_uid : 0);
			}
		}
		if (eof)
			break;
	}
	if (open_msg) {
		buf_free(&mm.header);
		msg_abort(&mm.m);
	}
	free(buf);
	close(fd);
	if (p.junk_bytes > 0)
		fprintf(stderr, "roost: import: %s: %llu bytes before the first \"From \" line ignored\n",
			path, (unsigned long long)p.junk_bytes);
	if (have_target) {
		int close_rc = target_close(&t);
		if (rc == 0)
			rc = close_rc;
	} else if (rc == 0)
		printf("%s: no messages (not an mbox file?), nothing imported\n", path);
	return rc;
}

/* A directory of mbox files: "a/b.mbox" (or "a/b") into "a/b". */
static int import_mbox_dir(struct store_user *u, const char *dir, const char *rel,
			   const char *folder, int depth)
{
	if (depth > 16)
		return 0;
	char path[4096];
	snprintf(path, sizeof(path), "%s%s%s", dir, rel[0] ? "/" : "", rel);
	DIR *d = opendir(path);
	if (d == NULL)
		return cli_error(EX_NOINPUT, "import: cannot read %s: %s", path, strerror(errno));
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nv = realloc(names, cap * sizeof(*nv));
			if (nv == NULL)
				break;
			names = nv;
		}
		if ((names[n] = strdup(e->d_name)) != NULL)
			n++;
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
			char *tmp = names[j];
			names[j] = names[j - 1];
			names[j - 1] = tmp;
		}
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char sub[STORE_MAILBOX_NAME_MAX + 1];
		snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", names[i]);
		char full_path[4096];
		snprintf(full_path, sizeof(full_path), "%s/%s", dir, sub);
		struct stat st;
		if (stat(full_path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			rc = import_mbox_dir(u, dir, sub, folder, depth + 1);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		size_t len = strlen(sub);
		/* Thunderbird's summary files are not mail. */
		if (len > 4 && strcmp(sub + len - 4, ".msf") == 0)
			continue;
		if (len > 5 && strcmp(sub + len - 5, ".mbox") == 0)
			sub[len - 5] = '\0';
		/* Thunderbird keeps the subfolders of "A" in "A.sbd/". */
		char name[STORE_MAILBOX_NAME_MAX + 1];
		size_t nlen = 0;
		for (const char *c = sub; *c && nlen + 1 < sizeof(name);) {
			if (strncmp(c, ".sbd/", 5) == 0) {
				c += 4;
				continue;
			}
			name[nlen++] = *c++;
		}
		name[nlen] = '\0';
		char mailbox[STORE_MAILBOX_NAME_MAX + 1];
		if (join_mailbox(folder, name, mailbox, sizeof(mailbox)) < 0)
			continue;
		rc = import_mbox_file(u, full_path, mailbox);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

/* ------------------------------------------------------------------ */

int cmd_import(int argc, char **argv)
{
	if (argc < 4 || argc > 5)
		return cli_usage_error("import: expected FORMAT PATH USER [FOLDER]");
	const char *format = argv[1], *path = argv[2], *user = argv[3];
	const char *folder = argc == 5 ? argv[4] : NULL;
	bool maildir = strcmp(format, "maildir") == 0;
	if (!maildir && strcmp(format, "mbox") != 0)
		return cli_usage_error("import: format must be maildir or mbox, not '%s'", format);
	struct stat st;
	if (stat(path, &st) < 0)
		return cli_error(EX_NOINPUT, "import: %s: %s", path, strerror(errno));

	int rc = open_store();
	if (rc != 0)
		return rc;
	struct auth_account acct;
	char err[256];
	int ret = auth_account_get(user, &acct, err, sizeof(err));
	if (ret < 0)
		return cli_error(EX_TEMPFAIL, "import: %s", err);
	if (ret == 0)
		return cli_error(EX_NOUSER, "import: %s: no such user", user);
	struct store_user *u = NULL;
	if (store_user_open(acct.user_key, &u) < 0)
		return store_fail(user);

	if (maildir)
		rc = import_maildir(u, path, folder);
	else if (S_ISDIR(st.st_mode))
		rc = import_mbox_dir(u, path, "", folder, 0);
	else
		rc = import_mbox_file(u, path, folder ? folder : "INBOX");
	store_user_unref(&u);
	return rc;
}
