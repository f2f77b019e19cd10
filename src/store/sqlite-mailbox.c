/* sqlite-mailbox.c - the embedded backend's mailboxes: list, lookup,
 * create, delete, rename, subscriptions, status.
 *
 * Children of "a" are the names in the byte range ("a/", "a0"): '0' is
 * the byte after '/', and names compare bytewise (BINARY collation). */
#include "sqlite-store.h"
#include "sqlite-listsnap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/pool.h"

static const char SQL_MAILBOX_BY_ID[] =
	"SELECT id, uidvalidity, uidnext, highestmodseq, noselect FROM mailbox WHERE id = ?1";
static const char SQL_MAILBOX_BY_NAME[] =
	"SELECT id, uidvalidity, uidnext, highestmodseq, noselect, special FROM mailbox"
	" WHERE name = ?1";
static const char SQL_HAS_CHILDREN[] =
	"SELECT 1 FROM mailbox WHERE name > ?1 || '/' AND name < ?1 || '0' LIMIT 1";

int sq_mailbox_get(struct sq_user *s, uint64_t id, struct sq_mailbox *mb_r)
{
	sqlite3_stmt *st = sq_stmt(s, SQL_MAILBOX_BY_ID);
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		mb_r->id = (uint64_t)sqlite3_column_int64(st, 0);
		mb_r->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		mb_r->uidnext = (uint32_t)sqlite3_column_int64(st, 2);
		mb_r->highestmodseq = (uint64_t)sqlite3_column_int64(st, 3);
		mb_r->noselect = sqlite3_column_int(st, 4) != 0;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sq_fail(s, rc, "mailbox get");
}

/* 1 with *mb_r and *special_r, 0 not found, -1 error. */
static int mailbox_by_name(struct sq_user *s, const char *name, struct sq_mailbox *mb_r,
			   uint32_t *special_r)
{
	sqlite3_stmt *st = sq_stmt(s, SQL_MAILBOX_BY_NAME);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		mb_r->id = (uint64_t)sqlite3_column_int64(st, 0);
		mb_r->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		mb_r->uidnext = (uint32_t)sqlite3_column_int64(st, 2);
		mb_r->highestmodseq = (uint64_t)sqlite3_column_int64(st, 3);
		mb_r->noselect = sqlite3_column_int(st, 4) != 0;
		if (special_r)
			*special_r = (uint32_t)sqlite3_column_int(st, 5);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sq_fail(s, rc, "mailbox by name");
}

/* 1 if the one-parameter query returns a row for name, 0 if not, -1 on
 * error (what names the check in the error message). */
static int row_exists(struct sq_user *s, const char *sql, const char *name, const char *what)
{
	sqlite3_stmt *st = sq_stmt(s, sql);
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return sq_fail(s, rc, what);
}

static int has_children(struct sq_user *s, const char *name)
{
	return row_exists(s, SQL_HAS_CHILDREN, name, "has children");
}

static int is_subscribed(struct sq_user *s, const char *name)
{
	return row_exists(s, "SELECT 1 FROM subscription WHERE name = ?1", name, "subscribed");
}

int sq_next_uidvalidity(struct sq_user *s, uint32_t *uv_r)
{
	int64_t next;
	int r = sq_get_int(s, "SELECT next_uidvalidity FROM account WHERE id = 1", 0, 0, &next);
	if (r <= 0)
		return r < 0 ? -1 : store_fail(STORE_ERR_CORRUPT, "Mailbox store has no account row");
	/* Time-based when possible (so a user deleted and recreated under the
	 * same key starts above its old values), strictly increasing always. */
	int64_t now = (int64_t)time(NULL);
	int64_t uv = next > now ? next : now;
	if (uv >= (int64_t)UINT32_MAX)
		return store_fail(STORE_ERR_LIMIT, "UIDVALIDITY space exhausted");
	sqlite3_stmt *st = sq_stmt(s, "UPDATE account SET next_uidvalidity = ?1 WHERE id = 1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, uv + 1);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq_fail(s, rc, "uidvalidity");
	*uv_r = (uint32_t)uv;
	return 1;
}

int sq_mailbox_insert(struct sq_user *s, const char *name, uint32_t special, bool noselect,
		      uint64_t *id_r)
{
	uint32_t uv;
	if (sq_next_uidvalidity(s, &uv) < 0)
		return -1;
	sqlite3_stmt *st = sq_stmt(s, "INSERT INTO mailbox (name, special, noselect, uidvalidity)"
				      " VALUES (?1, ?2, ?3, ?4)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)special);
	sqlite3_bind_int(st, 3, noselect ? 1 : 0);
	sqlite3_bind_int64(st, 4, uv);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_CONSTRAINT)
		return store_fail(STORE_ERR_ALREADYEXISTS, "Mailbox already exists");
	if (rc != SQLITE_DONE)
		return sq_fail(s, rc, "mailbox insert");
	*id_r = (uint64_t)sqlite3_last_insert_rowid(s->db);
	return 1;
}

static int mailbox_delete_row(struct sq_user *s, uint64_t id)
{
	sqlite3_stmt *st = sq_stmt(s, "DELETE FROM mailbox WHERE id = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)id);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq_fail(s, rc, "mailbox delete");
	st = sq_stmt(s, "DELETE FROM expunged WHERE mailbox_id = ?1");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (int64_t)id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 1 : sq_fail(s, rc, "tombstones delete");
}

int sq_mailbox_create_parents(struct sq_user *s, const char *name, struct store_user *u,
			      uint64_t **created, size_t *ncreated)
{
	char prefix[STORE_MAILBOX_NAME_MAX + 1];
	size_t len = strlen(name);
	for (size_t i = 1; i < len; i++) {
		if (name[i] != '/')
			continue;
		memcpy(prefix, name, i);
		prefix[i] = '\0';
		struct sq_mailbox mb;
		int r = mailbox_by_name(s, prefix, &mb, NULL);
		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		uint64_t id;
		if (sq_mailbox_insert(s, prefix, 0, false, &id) < 0)
			return -1;
		uint64_t *n = realloc(*created, (*ncreated + 1) * sizeof(**created));
		if (n == NULL)
			return store_fail(STORE_ERR_INTERNAL, "Out of memory");
		*created = n;
		n[(*ncreated)++] = id;
	}
	return 1;
}

/* After a commit: tell this process's sessions and the other processes. */
static void publish_ids(struct store_user *u, const uint64_t *ids, size_t n, uint64_t modseq)
{
	for (size_t i = 0; i < n; i++)
		store_bus_publish(u, ids[i], modseq);
	store_notify_send(u);
}

/* ------------------------------------------------------------------ */

int sq_mailbox_create(struct store_user *u, const char *name, uint32_t special_use,
		      uint64_t *id_r)
{
	struct sq_user *s = sq(u);
	uint64_t *created = NULL;
	size_t ncreated = 0;
	uint64_t id = 0;
	sq_lock(s);
	int ret = sq_begin(s);
	if (ret > 0) {
		struct sq_mailbox mb;
		int r = mailbox_by_name(s, name, &mb, NULL);
		if (r < 0)
			ret = -1;
		else if (r > 0 && !mb.noselect)
			ret = store_fail(STORE_ERR_ALREADYEXISTS, "Mailbox already exists");
		else if (r > 0)
			/* A \Noselect placeholder becomes a real mailbox: a new
			 * row, so the new incarnation has a new id. */
			ret = mailbox_delete_row(s, mb.id);
		if (ret > 0)
			ret = sq_mailbox_create_parents(s, name, u, &created, &ncreated);
		if (ret > 0)
			ret = sq_mailbox_insert(s, name, special_use, false, &id);
		if (ret > 0)
			ret = sq_commit(s);
		else
			sq_rollback(s);
	}
	sq_unlock(s);
	if (ret > 0) {
		publish_ids(u, created, ncreated, 1);
		publish_ids(u, &id, 1, 1);
		*id_r = id;
	}
	free(created);
	return ret;
}

int sq_mailbox_delete(struct store_user *u, const char *name)
{
	struct sq_user *s = sq(u);
	struct sq_idvec dead = { 0 };
	uint64_t id = 0;
	sq_lock(s);
	int ret = sq_begin(s);
	if (ret > 0) {
		struct sq_mailbox mb;
		int r = mailbox_by_name(s, name, &mb, NULL);
		int children = r > 0 ? has_children(s, name) : 0;
		if (r < 0 || children < 0) {
			ret = -1;
		} else if (r == 0) {
			ret = store_fail(STORE_ERR_NONEXISTENT, "Mailbox does not exist");
		} else if (mb.noselect && children) {
			/* RFC 9051 6.3.5: an error for a \Noselect name with
			 * inferior names. */
			ret = store_fail(STORE_ERR_HASCHILDREN, "Mailbox has children");
		} else {
			id = mb.id;
			ret = sq_mailbox_purge(s, mb.id, &dead);
			if (ret > 0)
				ret = mailbox_delete_row(s, mb.id);
			/* With children, the name stays as a \Noselect parent
			 * (a new row: the old incarnation is gone). */
			uint64_t ph;
			if (ret > 0 && children)
				ret = sq_mailbox_insert(s, name, 0, true, &ph);
		}
		if (ret > 0)
			ret = sq_commit(s);
		else
			sq_rollback(s);
	}
	sq_unlock(s);
	if (ret > 0) {
		sq_unlink_blobs(s, dead.v, dead.n);
		/* The id is never used again: its list snapshot is garbage. */
		sq_listsnap_remove(s->dir, id);
		publish_ids(u, &id, 1, 0);
	}
	sq_idvec_free(&dead);
	return ret;
}

static int rename_tree(struct sq_user *s, const char *from, const char *to)
{
	sqlite3_stmt *st = sq_stmt(s, "UPDATE mailbox SET name = ?2 || substr(name, length(?1) + 1)"
				      " WHERE name = ?1 OR (name > ?1 || '/' AND name < ?1 || '0')");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return store_fail(STORE_ERR_ALREADYEXISTS, "Mailbox already exists");
	return rc == SQLITE_DONE ? 1 : sq_fail(s, rc, "rename");
}

/* The ids of a mailbox and its children, for publishing a rename. */
static int tree_ids(struct sq_user *s, const char *name, struct sq_idvec *ids)
{
	sqlite3_stmt *st = sq_stmt(s, "SELECT id FROM mailbox WHERE name = ?1"
				      " OR (name > ?1 || '/' AND name < ?1 || '0')");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (sq_idvec_push(ids, (uint64_t)sqlite3_column_int64(st, 0)) < 0) {
			sqlite3_reset(st);
			return -1;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 1 : sq_fail(s, rc, "tree ids");
}

int sq_mailbox_rename(struct store_user *u, const char *from, const char *to)
{
	struct sq_user *s = sq(u);
	uint64_t *created = NULL;
	size_t ncreated = 0;
	struct sq_idvec ids = { 0 };
	uint64_t new_id = 0;
	sq_lock(s);
	int ret = sq_begin(s);
	if (ret > 0) {
		struct sq_mailbox mb, target;
		int r = mailbox_by_name(s, from, &mb, NULL);
		int t = r > 0 ? mailbox_by_name(s, to, &target, NULL) : 0;
		if (r < 0 || t < 0)
			ret = -1;
		else if (r == 0)
			ret = store_fail(STORE_ERR_NONEXISTENT, "Mailbox does not exist");
		else if (t > 0)
			ret = store_fail(STORE_ERR_ALREADYEXISTS, "Mailbox already exists");
		if (ret > 0)
			ret = sq_mailbox_create_parents(s, to, u, &created, &ncreated);
		if (ret > 0 && strcmp(from, "INBOX") == 0) {
			/* RFC 9051 6.3.6: messages move to a new mailbox, INBOX
			 * stays (empty), its children stay where they are. */
			ret = sq_mailbox_insert(s, to, 0, false, &new_id);
			if (ret > 0)
				ret = sq_move_all(s, mb.id, new_id);
			if (ret > 0)
				ret = sq_idvec_push(&ids, mb.id);
			if (ret > 0)
				ret = sq_idvec_push(&ids, new_id);
		} else if (ret > 0) {
			ret = rename_tree(s, from, to);
			if (ret > 0)
				ret = tree_ids(s, to, &ids);
		}
		if (ret > 0)
			ret = sq_commit(s);
		else
			sq_rollback(s);
	}
	sq_unlock(s);
	if (ret > 0) {
		publish_ids(u, created, ncreated, 1);
		/* Watchers re-read status: the modseq passed is only a hint. */
		publish_ids(u, ids.v, ids.n, 1);
	}
	free(created);
	sq_idvec_free(&ids);
	return ret;
}

int sq_mailbox_subscribe(struct store_user *u, const char *name, bool subscribe)
{
	struct sq_user *s = sq(u);
	sq_lock(s);
	/* One statement: autocommit makes it its own transaction. */
	sqlite3_stmt *st = sq_stmt(s, subscribe ?
		"INSERT OR IGNORE INTO subscription (name) VALUES (?1)" :
		"DELETE FROM subscription WHERE name = ?1");
	int ret = 1;
	if (st == NULL) {
		ret = -1;
	} else {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			ret = sq_fail(s, rc, "subscribe");
	}
	sq_unlock(s);
	if (ret > 0)
		store_notify_send(u);
	return ret;
}

int sq_mailbox_set_special_use(struct store_user *u, uint64_t id, uint32_t special_use)
{
	struct sq_user *s = sq(u);
	sq_lock(s);
	int ret = 1;
	sqlite3_stmt *st = sq_stmt(s, "UPDATE mailbox SET special = ?2 WHERE id = ?1");
	if (st == NULL) {
		ret = -1;
	} else {
		sqlite3_bind_int64(st, 1, (int64_t)id);
		sqlite3_bind_int(st, 2, (int)special_use);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			ret = sq_fail(s, rc, "set special-use");
		else if (sqlite3_changes(s->db) == 0)
			ret = store_fail(STORE_ERR_NONEXISTENT, "Mailbox does not exist");
	}
	sq_unlock(s);
	if (ret > 0)
		publish_ids(u, &id, 1, 1);
	return ret;
}

/* roost import. Only a mailbox that never held a message may change its
 * UIDVALIDITY: no client can have cached UIDs of it. The account's
 * counter is raised past the value so later mailboxes stay above it. */
int sq_mailbox_set_uidvalidity(struct store_user *u, uint64_t id, uint32_t uidvalidity)
{
	struct sq_user *s = sq(u);
	struct sq_mailbox mb;
	sq_lock(s);
	int ret = sq_begin(s);
	bool in_tx = ret > 0;
	if (ret > 0) {
		ret = sq_mailbox_get(s, id, &mb);
		if (ret == 0)
			ret = store_fail(STORE_ERR_NONEXISTENT, "Mailbox does not exist");
		else if (ret > 0 && mb.uidnext != 1)
			ret = store_fail(STORE_ERR_NOPERM, "Mailbox has held messages");
	}
	sqlite3_stmt *st = NULL;
	if (ret > 0 && (st = sq_stmt(s, "UPDATE mailbox SET uidvalidity = ?2 WHERE id = ?1")) == NULL)
		ret = -1;
	if (ret > 0) {
		sqlite3_bind_int64(st, 1, (int64_t)id);
		sqlite3_bind_int64(st, 2, (int64_t)uidvalidity);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			ret = sq_fail(s, rc, "set uidvalidity");
	}
	if (ret > 0 && (st = sq_stmt(s, "UPDATE account SET next_uidvalidity ="
					" MAX(next_uidvalidity, ?1) WHERE id = 1")) == NULL)
		ret = -1;
	if (ret > 0) {
		sqlite3_bind_int64(st, 1, (int64_t)uidvalidity + 1);
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			ret = sq_fail(s, rc, "uidvalidity counter");
	}
	if (ret > 0)
		ret = sq_commit(s);
	else if (in_tx)
		sq_rollback(s);
	sq_unlock(s);
	if (ret > 0) {
		publish_ids(u, &id, 1, mb.highestmodseq);
		store_notify_send(u);
	}
	return ret;
}

int sq_mailbox_status(struct store_user *u, uint64_t id, struct store_status *st_r)
{
	struct sq_user *s = sq(u);
	sq_lock(s);
	sqlite3_stmt *st = sq_stmt(s, "SELECT messages, unseen, deleted, size, uidnext,"
				      " uidvalidity, highestmodseq, noselect FROM mailbox"
				      " WHERE id = ?1");
	int ret = -1;
	if (st != NULL) {
		sqlite3_bind_int64(st, 1, (int64_t)id);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			st_r->messages = (uint32_t)sqlite3_column_int64(st, 0);
			st_r->unseen = (uint32_t)sqlite3_column_int64(st, 1);
			st_r->deleted = (uint32_t)sqlite3_column_int64(st, 2);
			st_r->size = (uint64_t)sqlite3_column_int64(st, 3);
			st_r->uidnext = (uint32_t)sqlite3_column_int64(st, 4);
			st_r->uidvalidity = (uint32_t)sqlite3_column_int64(st, 5);
			st_r->highestmodseq = (uint64_t)sqlite3_column_int64(st, 6);
			ret = sqlite3_column_int(st, 7) ?
				store_fail(STORE_ERR_NOPERM, "Mailbox is not selectable") : 1;
		} else if (rc == SQLITE_DONE) {
			ret = store_fail(STORE_ERR_NONEXISTENT, "Mailbox does not exist");
		} else {
			ret = sq_fail(s, rc, "status");
		}
		sqlite3_reset(st);
	}
	sq_unlock(s);
	return ret;
}

int sq_mailbox_lookup(struct store_user *u, const char *name, struct store_mailbox_info *info_r,
		      char *name_buf)
{
	struct sq_user *s = sq(u);
	struct sq_mailbox mb;
	uint32_t special = 0;
	memset(info_r, 0, sizeof(*info_r));
	sq_lock(s);
	int ret = mailbox_by_name(s, name, &mb, &special);
	int children = ret > 0 ? has_children(s, name) : 0;
	int sub = ret > 0 ? is_subscribed(s, name) : 0;
	sq_unlock(s);
	if (ret <= 0)
		return ret;
	if (children < 0 || sub < 0)
		return -1;
	info_r->id = mb.id;
	info_r->name = name_buf;
	info_r->attrs = (special & STORE_SPECIAL_MASK) | (mb.noselect ? STORE_MBOX_NOSELECT : 0) |
			(children ? STORE_MBOX_HASCHILDREN : 0) | (sub ? STORE_MBOX_SUBSCRIBED : 0);
	info_r->uidvalidity = mb.uidvalidity;
	info_r->uidnext = mb.uidnext;
	info_r->highestmodseq = mb.highestmodseq;
	return 1;
}

/* ------------------------------------------------------------------ */
/* list */

static int info_cmp_bytes(const void *a, const void *b)
{
	const struct store_mailbox_info *x = a, *y = b;
	return strcmp(x->name, y->name);
}

static long find_name(const struct store_mailbox_info *items, size_t n, const char *name)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(items[mid].name, name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static int list_push(struct store_mailbox_list *l, size_t *cap, const struct store_mailbox_info *in)
{
	if (l->count == *cap) {
		size_t nc = *cap ? *cap * 2 : 32;
		struct store_mailbox_info *n = realloc(l->items, nc * sizeof(*n));
		if (n == NULL)
			return store_fail(STORE_ERR_INTERNAL, "Out of memory");
		l->items = n;
		*cap = nc;
	}
	l->items[l->count++] = *in;
	return 1;
}

int sq_mailbox_list(struct store_user *u, struct store_mailbox_list **list_r)
{
	struct sq_user *s = sq(u);
	struct store_mailbox_list *l = calloc(1, sizeof(*l));
	if (l == NULL || (l->pool = pool_new(4096)) == NULL) {
		free(l);
		return store_fail(STORE_ERR_INTERNAL, "Out of memory");
	}
	size_t cap = 0;
	int ret = 1, rc;
	char **subs = NULL;
	size_t nsubs = 0, subcap = 0;

	sq_lock(s);
	sqlite3_stmt *st = sq_stmt(s, "SELECT id, name, special, noselect, uidvalidity, uidnext,"
				      " highestmodseq FROM mailbox");
	if (st == NULL)
		ret = -1;
	while (ret > 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_mailbox_info in = { 0 };
		in.id = (uint64_t)sqlite3_column_int64(st, 0);
		in.name = pool_strdup(l->pool, (const char *)sqlite3_column_text(st, 1));
		in.attrs = ((uint32_t)sqlite3_column_int(st, 2) & STORE_SPECIAL_MASK) |
			   (sqlite3_column_int(st, 3) ? STORE_MBOX_NOSELECT : 0);
		in.uidvalidity = (uint32_t)sqlite3_column_int64(st, 4);
		in.uidnext = (uint32_t)sqlite3_column_int64(st, 5);
		in.highestmodseq = (uint64_t)sqlite3_column_int64(st, 6);
		if (in.name == NULL)
			ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
		else
			ret = list_push(l, &cap, &in);
	}
	if (st != NULL) {
		if (ret > 0 && rc != SQLITE_DONE)
			ret = sq_fail(s, rc, "list");
		sqlite3_reset(st);
	}
	st = ret > 0 ? sq_stmt(s, "SELECT name FROM subscription") : NULL;
	if (ret > 0 && st == NULL)
		ret = -1;
	while (ret > 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (nsubs == subcap) {
			subcap = subcap ? subcap * 2 : 16;
			char **n = realloc(subs, subcap * sizeof(*n));
			if (n == NULL) {
				ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
				break;
			}
			subs = n;
		}
		subs[nsubs] = pool_strdup(l->pool, (const char *)sqlite3_column_text(st, 0));
		if (subs[nsubs] == NULL)
			ret = store_fail(STORE_ERR_INTERNAL, "Out of memory");
		nsubs++;
	}
	if (st != NULL) {
		if (ret > 0 && rc != SQLITE_DONE)
			ret = sq_fail(s, rc, "subscriptions");
		sqlite3_reset(st);
	}
	sq_unlock(s);

	if (ret > 0) {
		qsort(l->items, l->count, sizeof(*l->items), info_cmp_bytes);
		size_t nreal = l->count;
		char child[STORE_MAILBOX_NAME_MAX + 2];
		for (size_t i = 0; i < nreal; i++) {
			/* Children of x sort at or after x + "/". */
			int n = snprintf(child, sizeof(child), "%s/", l->items[i].name);
			long pos = find_name(l->items, nreal, child);
			size_t at = pos >= 0 ? (size_t)pos : (size_t)(-pos - 1);
			if (n > 0 && at < nreal && strncmp(l->items[at].name, child, (size_t)n) == 0)
				l->items[i].attrs |= STORE_MBOX_HASCHILDREN;
		}
		for (size_t i = 0; i < nsubs && ret > 0; i++) {
			long pos = find_name(l->items, nreal, subs[i]);
			if (pos >= 0) {
				l->items[pos].attrs |= STORE_MBOX_SUBSCRIBED;
			} else {
				struct store_mailbox_info in = { 0 };
				in.name = subs[i];
				in.attrs = STORE_MBOX_SUBSCRIBED | STORE_MBOX_NONEXISTENT;
				ret = list_push(l, &cap, &in);
			}
		}
		qsort(l->items, l->count, sizeof(*l->items), info_cmp_bytes);
		/* INBOX first. */
		long inbox = find_name(l->items, l->count, "INBOX");
		if (inbox > 0) {
			struct store_mailbox_info tmp = l->items[inbox];
			memmove(&l->items[1], &l->items[0], (size_t)inbox * sizeof(tmp));
			l->items[0] = tmp;
		}
	}
	free(subs);
	if (ret < 0) {
		store_mailbox_list_free(&l);
		return -1;
	}
	*list_r = l;
	return 1;
}
