/* pop3-maildrop.c - see pop3-maildrop.h. */
#include "pop3-maildrop.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"

static void set_store_err(char *err, size_t errcap, const char *what)
{
	const char *msg;
	store_error(&msg);
	snprintf(err, errcap, "%s%s%s", what, msg[0] ? ": " : "", msg);
}

/* Does the keyword string (space-separated) hold kw, in any case? */
static bool has_keyword(const char *keywords, const char *kw)
{
	size_t kwlen = strlen(kw);
	const char *p = keywords;
	while (p && *p) {
		const char *end = strchr(p, ' ');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == kwlen && strncasecmp(p, kw, len) == 0)
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

int pop3_maildrop_open(const char *user_key, enum pop3_dele_policy dele, unsigned offer_days,
		       time_t now, struct pop3_maildrop **md_r, char *err, size_t errcap)
{
	struct pop3_maildrop *md = calloc(1, sizeof(*md));
	struct store_msg_list *list = NULL;
	char name_buf[STORE_MAILBOX_NAME_MAX + 1];
	struct store_mailbox_info info;

	*md_r = NULL;
	if (md == NULL) {
		snprintf(err, errcap, "Out of memory");
		return -1;
	}
	md->dele = dele;
	md->offer_days = offer_days;
	if (store_user_open(user_key, &md->user) < 0) {
		set_store_err(err, errcap, "Cannot open the mail store");
		goto fail;
	}
	int ret = store_mailbox_lookup(md->user, "INBOX", &info, name_buf);
	if (ret <= 0) {
		if (ret == 0)
			snprintf(err, errcap, "The INBOX does not exist");
		else
			set_store_err(err, errcap, "Cannot open the INBOX");
		goto fail;
	}
	md->inbox_id = info.id;
	if (store_msg_list_load(md->user, md->inbox_id, &list) < 0) {
		set_store_err(err, errcap, "Cannot read the INBOX");
		goto fail;
	}
	md->uidvalidity = list->uidvalidity;

	/* Offer window: messages whose internal date (delivery time) is at
	 * most offer_days days old. */
	int64_t oldest = offer_days ? (int64_t)now - (int64_t)offer_days * 86400 : INT64_MIN;
	if (list->count > 0) {
		md->msgs = malloc(list->count * sizeof(*md->msgs));
		md->state = calloc(list->count, 1);
		if (md->msgs == NULL || md->state == NULL) {
			snprintf(err, errcap, "Out of memory");
			goto fail;
		}
	}
	for (uint32_t i = 0; i < list->count; i++) {
		const struct store_msg *m = &list->msgs[i];
		if (m->internal_date < oldest)
			continue;
		/* Popped-deleted under the keep policy: never offered again,
		 * even if the account's policy changed since. */
		if (m->kwset != 0 && has_keyword(store_msg_keywords(list, m), POP3_KEYWORD_DELETED))
			continue;
		md->msgs[md->count] = (struct pop3_msg){ .blob_id = m->blob_id, .uid = m->uid,
							 .size = m->size };
		md->state[md->count] = (m->flags & STORE_FLAG_SEEN) ? POP3_MSG_SEEN : 0;
		md->total_size += m->size;
		md->count++;
	}
	store_msg_list_free(&list);
	*md_r = md;
	return 1;

fail:
	store_msg_list_free(&list);
	pop3_maildrop_free(&md);
	return -1;
}

void pop3_maildrop_free(struct pop3_maildrop **mdp)
{
	struct pop3_maildrop *md = *mdp;
	if (md == NULL)
		return;
	store_user_unref(&md->user);
	free(md->msgs);
	free(md->state);
	free(md);
	*mdp = NULL;
}

int pop3_maildrop_delete(struct pop3_maildrop *md, uint32_t index)
{
	if (md->state[index] & POP3_MSG_DELETED)
		return -1;
	md->state[index] |= POP3_MSG_DELETED;
	md->deleted_count++;
	md->deleted_size += md->msgs[index].size;
	return 1;
}

void pop3_maildrop_reset(struct pop3_maildrop *md)
{
	for (uint32_t i = 0; i < md->count; i++)
		md->state[i] &= (uint8_t)~POP3_MSG_DELETED;
	md->deleted_count = 0;
	md->deleted_size = 0;
}

/* Ascending UIDs into ranges of consecutive UIDs. ranges has room for
 * count entries. Returns the number of ranges. */
static size_t uids_to_ranges(const uint32_t *uids, size_t count, struct store_uid_range *ranges)
{
	size_t n = 0;
	for (size_t i = 0; i < count; i++) {
		if (n > 0 && ranges[n - 1].last + 1 == uids[i] && ranges[n - 1].last != UINT32_MAX)
			ranges[n - 1].last = uids[i];
		else
			ranges[n++] = (struct store_uid_range){ uids[i], uids[i] };
	}
	return n;
}

/* The Trash folder for the trash policy: the mailbox marked \Trash,
 * else the configured name, created (with \Trash) if missing. */
static int find_trash(struct store_user *u, uint64_t *id_r, char *err, size_t errcap)
{
	struct store_mailbox_list *list = NULL;
	if (store_mailbox_list(u, &list) < 0) {
		set_store_err(err, errcap, "Cannot list the folders");
		return -1;
	}
	*id_r = 0;
	for (size_t i = 0; i < list->count; i++) {
		const struct store_mailbox_info *mi = &list->items[i];
		if ((mi->attrs & STORE_SPECIAL_TRASH) &&
		    !(mi->attrs & (STORE_MBOX_NOSELECT | STORE_MBOX_NONEXISTENT))) {
			*id_r = mi->id;
			break;
		}
	}
	store_mailbox_list_free(&list);
	if (*id_r != 0)
		return 1;

	const char *name = roost_config && roost_config->folder_trash[0] ?
				   roost_config->folder_trash : "Trash";
	char name_buf[STORE_MAILBOX_NAME_MAX + 1];
	struct store_mailbox_info info;
	for (int attempt = 0; attempt < 2; attempt++) {
		int ret = store_mailbox_lookup(u, name, &info, name_buf);
		if (ret < 0) {
			set_store_err(err, errcap, "Cannot find the Trash folder");
			return -1;
		}
		if (ret > 0 && !(info.attrs & STORE_MBOX_NOSELECT)) {
			*id_r = info.id;
			return 1;
		}
		/* Missing, or only a \Noselect parent: creating makes it a
		 * selectable mailbox. A concurrent creation by IMAP gives
		 * ALREADYEXISTS: look it up again. */
		if (store_mailbox_create(u, name, STORE_SPECIAL_TRASH, id_r) > 0)
			return 1;
		const char *msg;
		if (store_error(&msg) != STORE_ERR_ALREADYEXISTS)
			break;
	}
	set_store_err(err, errcap, "Cannot create the Trash folder");
	return -1;
}

int pop3_maildrop_commit(struct pop3_maildrop *md, unsigned *applied_r, char *err, size_t errcap)
{
	*applied_r = 0;
	if (md->deleted_count == 0)
		return 1;

	uint32_t *uids = malloc(md->deleted_count * sizeof(*uids));
	struct store_uid_range *ranges = malloc(md->deleted_count * sizeof(*ranges));
	int ret = -1;
	if (uids == NULL || ranges == NULL) {
		snprintf(err, errcap, "Out of memory");
		goto out;
	}
	size_t n = 0;
	for (uint32_t i = 0; i < md->count; i++)
		if (md->state[i] & POP3_MSG_DELETED)
			uids[n++] = md->msgs[i].uid;
	struct store_uidset set = { ranges, uids_to_ranges(uids, n, ranges) };

	switch (md->dele) {
	case POP3_DELE_EXPUNGE: {
		struct store_uid_array expunged = { 0 };
		if (store_expunge(md->user, md->inbox_id, &set, false, &expunged) < 0) {
			set_store_err(err, errcap, "Deleted messages were not removed");
			goto out;
		}
		*applied_r = (unsigned)expunged.count;
		store_uid_array_free(&expunged);
		break;
	}
	case POP3_DELE_KEEP: {
		struct store_flags_result res = { 0 };
		if (store_flags_change(md->user, md->inbox_id, &set, STORE_FLAGS_ADD, 0,
				       POP3_KEYWORD_DELETED, 0, &res) < 0) {
			set_store_err(err, errcap, "Deleted messages were not marked");
			goto out;
		}
		/* Messages that already had the keyword are not "changed";
		 * count what we asked for that still exists instead. */
		*applied_r = (unsigned)n;
		store_flags_result_free(&res);
		break;
	}
	case POP3_DELE_TRASH: {
		uint64_t trash_id;
		struct store_copy_result res = { 0 };
		if (find_trash(md->user, &trash_id, err, errcap) < 0)
			goto out;
		if (trash_id == md->inbox_id) {
			/* Trash configured as INBOX: nothing sensible to move. */
			snprintf(err, errcap, "The Trash folder is the INBOX");
			goto out;
		}
		if (store_copy(md->user, md->inbox_id, &set, trash_id, true, &res) < 0) {
			set_store_err(err, errcap, "Deleted messages were not moved to Trash");
			goto out;
		}
		*applied_r = (unsigned)res.src_uids.count;
		store_copy_result_free(&res);
		break;
	}
	}
	ret = 1;
out:
	free(uids);
	free(ranges);
	return ret;
}

int pop3_maildrop_mark_seen(struct store_user *user, uint64_t inbox_id, const uint32_t *uids,
			    size_t count, char *err, size_t errcap)
{
	if (count == 0)
		return 1;
	/* uids arrive in RETR order; sort a copy for the ranges. */
	uint32_t *sorted = malloc(count * sizeof(*sorted));
	struct store_uid_range *ranges = malloc(count * sizeof(*ranges));
	int ret = -1;
	if (sorted == NULL || ranges == NULL) {
		snprintf(err, errcap, "Out of memory");
		goto out;
	}
	memcpy(sorted, uids, count * sizeof(*sorted));
	for (size_t i = 1; i < count; i++) {
		uint32_t v = sorted[i];
		size_t j = i;
		while (j > 0 && sorted[j - 1] > v) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = v;
	}
	size_t n = 0;
	for (size_t i = 0; i < count; i++)
		if (n == 0 || sorted[n - 1] != sorted[i])
			sorted[n++] = sorted[i];
	struct store_uidset set = { ranges, uids_to_ranges(sorted, n, ranges) };
	struct store_flags_result res = { 0 };
	if (store_flags_change(user, inbox_id, &set, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0,
			       &res) < 0) {
		set_store_err(err, errcap, "Cannot set \\Seen");
		goto out;
	}
	store_flags_result_free(&res);
	ret = 1;
out:
	free(sorted);
	free(ranges);
	return ret;
}

void pop3_uidl_format(uint32_t uidvalidity, uint32_t uid, char *out)
{
	snprintf(out, POP3_UIDL_MAX, "%08x.%u", uidvalidity, uid);
}

/* The lock table: account ids with a POP3 session, in a small array
 * (a server has at most a few thousand POP3 sessions at once, each
 * short-lived). */
static pthread_mutex_t lock_mutex = PTHREAD_MUTEX_INITIALIZER;
static int64_t *locked_ids;
static size_t locked_count, locked_cap;

int pop3_maildrop_lock(int64_t account_id)
{
	int ret = 1;
	pthread_mutex_lock(&lock_mutex);
	for (size_t i = 0; i < locked_count; i++) {
		if (locked_ids[i] == account_id) {
			ret = 0;
			goto out;
		}
	}
	if (locked_count == locked_cap) {
		size_t cap = locked_cap ? locked_cap * 2 : 64;
		int64_t *ids = realloc(locked_ids, cap * sizeof(*ids));
		if (ids == NULL) {
			ret = -1;
			goto out;
		}
		locked_ids = ids;
		locked_cap = cap;
	}
	locked_ids[locked_count++] = account_id;
out:
	pthread_mutex_unlock(&lock_mutex);
	return ret;
}

void pop3_maildrop_unlock(int64_t account_id)
{
	pthread_mutex_lock(&lock_mutex);
	for (size_t i = 0; i < locked_count; i++) {
		if (locked_ids[i] == account_id) {
			locked_ids[i] = locked_ids[--locked_count];
			break;
		}
	}
	pthread_mutex_unlock(&lock_mutex);
}
