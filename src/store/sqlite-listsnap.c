/* sqlite-listsnap.c - list snapshots of big mailboxes (see
 * sqlite-listsnap.h and docs/storage.md, "List snapshots").
 *
 * Why: reading a mailbox's rows costs ~2,200 instructions a message in
 * SQLite (sqlite3_step interpreting eight columns of a WITHOUT ROWID
 * primary key), half a second at 1,000,000 messages, while the list a
 * session keeps is a flat array of 40-byte records. Written once, that
 * array comes back with one read() and a crc32, and the rows changed
 * since (index message_modseq) bring it up to date. */
#include "sqlite-listsnap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/config.h"
#include "lib/log.h"
#include "store-backend.h"

_Static_assert(sizeof(struct sq_listsnap_hdr) == 56, "snapshot header layout");
_Static_assert(sizeof(struct store_msg) == 40, "snapshot record layout");

struct sq_listsnap_stats sq_listsnap_stats;

uint32_t sq_listsnap_min(void)
{
	return roost_config != NULL ? roost_config->store_list_snapshot_min :
				      SQ_LISTSNAP_MIN_DEFAULT;
}

int sq_listsnap_path(const char *user_dir, uint64_t mailbox_id, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/cache/list-%llu", user_dir, (unsigned long long)mailbox_id);
	return n < 0 || (size_t)n >= cap ? -1 : 1;
}

/* zlib's crc32 takes at most a uInt at a time. */
static uint32_t crc_update(uint32_t crc, const void *p, size_t len)
{
	const unsigned char *b = p;
	while (len > 0) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		crc = (uint32_t)crc32(crc, b, n);
		b += n;
		len -= n;
	}
	return crc;
}

static uint32_t hdr_crc(const struct sq_listsnap_hdr *h)
{
	return crc_update((uint32_t)crc32(0, NULL, 0), h, offsetof(struct sq_listsnap_hdr, hdr_crc));
}

/* Bytes per pread. The list's array is fresh memory: a read into it
 * faults its pages in, and one read of 40 MB kept the process's memory
 * map locked long enough (15 ms) to stall a worker thread's own page
 * faults and mmaps, i.e. SELECT's answer. In 1 MiB pieces the lock is
 * let go between them, and the checksum runs while the piece is in the
 * cache. */
#define READ_PIECE ((size_t)1 << 20)

/* Reads len bytes at off into buf, piece by piece, updating *crc (NULL:
 * no checksum). */
static int read_full(int fd, void *buf, size_t len, off_t off, uint32_t *crc)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = pread(fd, p, len > READ_PIECE ? READ_PIECE : len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		if (crc != NULL)
			*crc = crc_update(*crc, p, (size_t)n);
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 1;
}

static void reject(const char *path, const char *why)
{
	atomic_fetch_add(&sq_listsnap_stats.rejected, 1);
	log_warn("list_snapshot_rejected", "path=%s reason=\"%s\"", path, why);
	/* Another session may have renamed a good one into place since we
	 * opened this: removing it then costs one rewrite, nothing more. */
	unlink(path);
}

/* The keyword strings: exactly kwset_count - 1 non-empty NUL-terminated
 * strings filling kw_bytes. */
static int parse_kwsets(const char *kw, uint64_t kw_bytes, uint32_t kwset_count,
			struct store_msg_list *l)
{
	if (kwset_count == 0)
		return kw_bytes == 0 ? 1 : 0;
	if (kw_bytes < (uint64_t)kwset_count - 1)
		return 0;
	l->kwsets = calloc(kwset_count, sizeof(char *));
	if (l->kwsets == NULL)
		return -1;
	l->kwset_cap = kwset_count;
	if ((l->kwsets[0] = strdup("")) == NULL)
		return -1;
	l->kwset_count = 1;
	const char *p = kw, *end = kw + kw_bytes;
	for (uint32_t i = 1; i < kwset_count; i++) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		if (nul == NULL || nul == p)
			return 0;
		if ((l->kwsets[i] = strdup(p)) == NULL)
			return -1;
		l->kwset_count = i + 1;
		p = nul + 1;
	}
	return p == end ? 1 : 0;
}

int sq_listsnap_read(const char *user_dir, uint64_t mailbox_id, uint32_t uidvalidity,
		     uint64_t max_modseq, uint32_t max_uidnext, uint32_t cap_hint,
		     struct store_msg_list *l)
{
	char path[4200];
	if (sq_listsnap_path(user_dir, mailbox_id, path, sizeof(path)) < 0)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warn("list_snapshot_open", "path=%s error=\"%s\"", path, strerror(errno));
		return 0;
	}
	struct sq_listsnap_hdr h;
	struct stat st;
	const char *why = NULL;
	char *kw = NULL;
	int ret = 0;
	if (fstat(fd, &st) < 0 || read_full(fd, &h, sizeof(h), 0, NULL) < 0) {
		why = "short header";
		goto out;
	}
	if (h.magic != SQ_LISTSNAP_MAGIC || h.version != SQ_LISTSNAP_VERSION ||
	    h.msg_size != sizeof(struct store_msg) || h.hdr_crc != hdr_crc(&h)) {
		why = "bad header";
		goto out;
	}
	if (h.mailbox_id != mailbox_id) {
		why = "another mailbox";
		goto out;
	}
	if (h.uidvalidity != uidvalidity) {
		why = "another uidvalidity";
		goto out;
	}
	if (h.highestmodseq > max_modseq || h.uidnext > max_uidnext) {
		why = "newer than the database";
		goto out;
	}
	uint64_t msg_bytes = (uint64_t)h.count * sizeof(struct store_msg);
	if (h.kw_bytes > SQ_LISTSNAP_KW_MAX || h.kwset_count > (uint64_t)h.count + 1 ||
	    (uint64_t)st.st_size != sizeof(h) + msg_bytes + h.kw_bytes) {
		why = "wrong size";
		goto out;
	}
	uint32_t cap = h.count > cap_hint ? h.count : cap_hint;
	if (cap == 0)
		cap = 1;
	l->msgs = malloc((size_t)cap * sizeof(*l->msgs));
	kw = malloc(h.kw_bytes ? (size_t)h.kw_bytes : 1);
	if (l->msgs == NULL || kw == NULL) {
		ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
		goto out;
	}
	l->cap = cap;
	/* Straight into the list's array, no copy in between. */
	uint32_t crc = (uint32_t)crc32(0, NULL, 0);
	if (read_full(fd, l->msgs, (size_t)msg_bytes, sizeof(h), &crc) < 0 ||
	    read_full(fd, kw, (size_t)h.kw_bytes, (off_t)(sizeof(h) + msg_bytes), &crc) < 0) {
		why = "short file";
		goto out;
	}
	if (crc != h.crc) {
		why = "checksum mismatch";
		goto out;
	}
	int r = parse_kwsets(kw, h.kw_bytes, h.kwset_count, l);
	if (r < 0) {
		ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
		goto out;
	}
	if (r == 0) {
		why = "bad keyword sets";
		goto out;
	}
	/* A correct checksum over a file we wrote: still check what the
	 * merge relies on, so no bug elsewhere can make it misbehave. */
	uint32_t nkw = h.kwset_count ? h.kwset_count : 1, prev = 0;
	for (uint32_t i = 0; i < h.count; i++) {
		const struct store_msg *m = &l->msgs[i];
		if (m->uid <= prev || m->uid >= h.uidnext || m->kwset >= nkw ||
		    m->modseq > h.highestmodseq || (m->flags & ~STORE_FLAG_MASK) != 0) {
			why = "bad message record";
			goto out;
		}
		prev = m->uid;
	}
	l->count = h.count;
	l->uidvalidity = h.uidvalidity;
	l->uidnext = h.uidnext;
	l->highestmodseq = h.highestmodseq;
	atomic_fetch_add(&sq_listsnap_stats.reads, 1);
	ret = 1;
out:
	close(fd);
	free(kw);
	if (ret <= 0)
		store_msg_list_clear(l);
	if (why != NULL)
		reject(path, why);
	return ret;
}

static int write_full(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n > IOV_MAX ? IOV_MAX : n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		size_t left = (size_t)w;
		while (n > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 1;
}

int sq_listsnap_write(const char *user_dir, uint64_t mailbox_id, const struct store_msg_list *l)
{
	static atomic_uint seq;
	char path[4200], tmp[4300], dir[4200];
	if (sq_listsnap_path(user_dir, mailbox_id, path, sizeof(path)) < 0)
		return -1;
	int n = snprintf(tmp, sizeof(tmp), "%s/cache/.list-%llu.%ld.%u.tmp", user_dir,
			 (unsigned long long)mailbox_id, (long)getpid(), atomic_fetch_add(&seq, 1));
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	snprintf(dir, sizeof(dir), "%s/cache", user_dir);

	/* The keyword strings of sets 1.., each with its NUL. */
	struct sq_listsnap_hdr h = {
		.magic = SQ_LISTSNAP_MAGIC, .version = SQ_LISTSNAP_VERSION,
		.msg_size = sizeof(struct store_msg), .mailbox_id = mailbox_id,
		.uidvalidity = l->uidvalidity, .uidnext = l->uidnext,
		.highestmodseq = l->highestmodseq, .count = l->count,
		.kwset_count = l->kwset_count,
	};
	int niov = 2 + (l->kwset_count > 1 ? (int)l->kwset_count - 1 : 0);
	struct iovec *iov = calloc((size_t)niov, sizeof(*iov));
	if (iov == NULL)
		return -1;
	uint64_t msg_bytes = (uint64_t)l->count * sizeof(struct store_msg);
	uint32_t crc = crc_update((uint32_t)crc32(0, NULL, 0), l->msgs, (size_t)msg_bytes);
	for (uint32_t i = 1; i < l->kwset_count; i++) {
		size_t len = strlen(l->kwsets[i]) + 1;
		iov[1 + i].iov_base = l->kwsets[i];
		iov[1 + i].iov_len = len;
		crc = crc_update(crc, l->kwsets[i], len);
		h.kw_bytes += len;
	}
	h.crc = crc;
	h.hdr_crc = hdr_crc(&h);
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = l->msgs;
	iov[1].iov_len = (size_t)msg_bytes;

	int ret = -1;
	if (h.kw_bytes > SQ_LISTSNAP_KW_MAX)
		goto out;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT) {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			goto fail;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	}
	if (fd < 0)
		goto fail;
	/* No fsync: a cache, and every reader checks the checksums. */
	bool ok = write_full(fd, iov, niov) > 0;
	if (close(fd) < 0)
		ok = false;
	if (!ok || rename(tmp, path) < 0) {
		unlink(tmp);
		goto fail;
	}
	atomic_fetch_add(&sq_listsnap_stats.written, 1);
	ret = 1;
	goto out;
fail:
	log_warn("list_snapshot_write", "path=%s error=\"%s\"", path, strerror(errno));
out:
	free(iov);
	return ret;
}

void sq_listsnap_remove(const char *user_dir, uint64_t mailbox_id)
{
	char path[4200];
	if (mailbox_id != 0) {
		if (sq_listsnap_path(user_dir, mailbox_id, path, sizeof(path)) > 0)
			unlink(path);
		return;
	}
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/cache", user_dir);
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		int n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n > 0 && (size_t)n < sizeof(path))
			unlink(path);
	}
	closedir(d);
}

/* ------------------------------------------------------------------ */
/* merging the changes since the snapshot */

/* Index of uid in msgs[lo..hi), or -1. */
static long find_uid(const struct store_msg *msgs, size_t lo, size_t hi, uint32_t uid)
{
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (msgs[mid].uid == uid)
			return (long)mid;
		if (msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int sq_listsnap_merge(struct store_msg_list *l, const struct store_msg_list *changed,
		      const struct store_uid_array *expunged)
{
	struct store_kw_intern ki = { 0 };
	uint32_t *kwmap = NULL;
	size_t *gone = NULL;
	struct store_msg *ins = NULL;
	size_t ngone = 0, nins = 0;
	int ret = -1;

	/* changed's keyword sets, as indices of l (interned once each). */
	if (changed->kwset_count > 0) {
		kwmap = calloc(changed->kwset_count, sizeof(*kwmap));
		if (kwmap == NULL)
			goto oom;
		for (uint32_t j = 1; j < changed->kwset_count; j++)
			if (store_kw_intern_index(l, &ki, changed->kwsets[j], &kwmap[j]) < 0)
				goto out;
	}
	ins = malloc((changed->count ? changed->count : 1) * sizeof(*ins));
	gone = malloc((expunged->count ? expunged->count : 1) * sizeof(*gone));
	if (ins == NULL || gone == NULL)
		goto oom;

	/* Changed messages replace theirs in place; the others are new. The
	 * array is still sorted by UID here, so both lookups can bisect. */
	size_t n = l->count;
	for (uint32_t i = 0; i < changed->count; i++) {
		struct store_msg m = changed->msgs[i];
		m.kwset = kwmap != NULL && m.kwset < changed->kwset_count ? kwmap[m.kwset] : 0;
		long at = find_uid(l->msgs, 0, n, m.uid);
		if (at >= 0)
			l->msgs[at] = m;
		else
			ins[nins++] = m;
	}
	/* A UID with both a row and a tombstone cannot happen (UIDs are never
	 * reused); if it did, the row is the truth. */
	for (size_t i = 0; i < expunged->count; i++) {
		uint32_t uid = expunged->uids[i];
		long at = find_uid(l->msgs, 0, n, uid);
		if (at < 0)
			continue;
		bool has_row = false;
		for (size_t lo = 0, hi = changed->count; lo < hi && !has_row;) {
			size_t mid = lo + (hi - lo) / 2;
			if (changed->msgs[mid].uid == uid)
				has_row = true;
			else if (changed->msgs[mid].uid < uid)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!has_row)
			gone[ngone++] = (size_t)at;
	}

	/* Close the gaps of the removed ones (gone[] ascends with the UIDs). */
	if (ngone > 0) {
		size_t w = gone[0];
		for (size_t g = 0; g < ngone; g++) {
			size_t from = gone[g] + 1;
			size_t to = g + 1 < ngone ? gone[g + 1] : n;
			memmove(&l->msgs[w], &l->msgs[from], (to - from) * sizeof(*l->msgs));
			w += to - from;
		}
		n -= ngone;
	}

	/* New messages, merged from the end (normally all above the last UID,
	 * so this is an append). */
	if (nins > 0) {
		if (n + nins > l->cap) {
			if (n + nins > UINT32_MAX)
				goto oom;
			struct store_msg *grown = realloc(l->msgs, (n + nins) * sizeof(*grown));
			if (grown == NULL)
				goto oom;
			l->msgs = grown;
			l->cap = (uint32_t)(n + nins);
		}
		size_t i = n, j = nins, w = n + nins;
		while (j > 0) {
			if (i > 0 && l->msgs[i - 1].uid > ins[j - 1].uid)
				l->msgs[--w] = l->msgs[--i];
			else
				l->msgs[--w] = ins[--j];
		}
		n += nins;
	}
	l->count = (uint32_t)n;
	l->uidvalidity = changed->uidvalidity;
	l->uidnext = changed->uidnext;
	l->highestmodseq = changed->highestmodseq;
	ret = 1;
	goto out;
oom:
	ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
out:
	store_kw_intern_free(&ki);
	free(kwmap);
	free(gone);
	free(ins);
	return ret;
}

int sq_listsnap_finish(struct store_msg_list *l, struct sq_list_sums *sums_r)
{
	struct sq_list_sums s = { .ordered = true };
	uint32_t *map = NULL;
	char **sets = NULL;
	if (l->kwset_count > 1) {
		/* Both allocated before anything changes: on OOM l is as it was. */
		map = malloc(l->kwset_count * sizeof(*map));
		sets = calloc(l->kwset_count, sizeof(char *));
		if (map == NULL || sets == NULL) {
			free(map);
			free(sets);
			return store_fail(STORE_ERR_INTERNAL, "Out of memory");
		}
		for (uint32_t k = 0; k < l->kwset_count; k++)
			map[k] = UINT32_MAX;
		map[0] = 0;
	}
	uint32_t next = 1, prev = 0;
	for (uint32_t i = 0; i < l->count; i++) {
		struct store_msg *m = &l->msgs[i];
		if (m->uid <= prev)
			s.ordered = false;
		prev = m->uid;
		if (map != NULL && m->kwset < l->kwset_count) {
			if (map[m->kwset] == UINT32_MAX)
				map[m->kwset] = next++;
			m->kwset = map[m->kwset];
		}
		if (!(m->flags & STORE_FLAG_SEEN)) {
			s.unseen++;
			if (s.first_unseen == 0)
				s.first_unseen = i + 1;
		}
		s.deleted += (m->flags & STORE_FLAG_DELETED) != 0;
		s.size += m->size;
		if (m->modseq > s.max_modseq)
			s.max_modseq = m->modseq;
	}
	s.count = l->count;
	s.max_uid = prev;
	if (map != NULL) {
		/* Sets in their new order; unused ones go. */
		for (uint32_t k = 0; k < l->kwset_count; k++) {
			if (map[k] != UINT32_MAX)
				sets[map[k]] = l->kwsets[k];
			else
				free(l->kwsets[k]);
		}
		free(l->kwsets);
		l->kwsets = sets;
		l->kwset_count = next;
		l->kwset_cap = next;
		if (next == 1) {
			/* No keywords left: as a list read from rows without any. */
			free(sets[0]);
			free(sets);
			l->kwsets = NULL;
			l->kwset_count = l->kwset_cap = 0;
		}
		free(map);
	} else if (l->kwset_count == 1) {
		free(l->kwsets[0]);
		free(l->kwsets);
		l->kwsets = NULL;
		l->kwset_count = l->kwset_cap = 0;
	}
	*sums_r = s;
	return 1;
}
