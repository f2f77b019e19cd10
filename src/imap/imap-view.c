/* imap-view.c - the selected mailbox as the client knows it, and the
 * untagged updates that keep the client in step; see imap-session.h.
 *
 * The view is a store_msg_list (40 bytes a message) plus the UIDs that were
 * expunged in the store but not yet announced. Changes arrive on the store's
 * change bus (another thread): the watch callback only sets view.changed and
 * signals this session's wakeup; the work happens here, on the worker
 * thread, after a command or during IDLE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap-internal.h"
#include "imap/imap-seqset.h"
#include "imap/imap-session.h"
#include "lib/log.h"

const struct store_msg *imap_view_msg(const struct imap_session *s, uint32_t msn)
{
	const struct store_msg_list *l = s->view.msgs;
	if (l == NULL || msn == 0 || msn > l->count)
		return NULL;
	return &l->msgs[msn - 1];
}

uint32_t imap_view_count(const struct imap_session *s)
{
	return s->view.msgs != NULL ? s->view.msgs->count : 0;
}

uint32_t imap_view_msn(const struct imap_session *s, uint32_t uid)
{
	if (s->view.msgs == NULL)
		return 0;
	long i = store_msg_list_find(s->view.msgs, uid);
	return i < 0 ? 0 : (uint32_t)i + 1;
}

uint32_t imap_view_max_uid(const struct imap_session *s)
{
	const struct store_msg_list *l = s->view.msgs;
	return l == NULL || l->count == 0 ? 0 : l->msgs[l->count - 1].uid;
}

/* Index of a keyword string in the view's interned sets, adding it if
 * needed (malloc'd like the store's own, freed by store_msg_list_free).
 * -1 on OOM. */
static long intern_keywords(struct store_msg_list *l, const char *kw)
{
	if (kw == NULL || kw[0] == '\0')
		return 0;
	for (uint32_t i = 1; i < l->kwset_count; i++)
		if (strcmp(l->kwsets[i], kw) == 0)
			return i;
	if (l->kwset_count == 0) {
		l->kwsets = calloc(8, sizeof(char *));
		if (l->kwsets == NULL || (l->kwsets[0] = strdup("")) == NULL)
			return -1;
		l->kwset_cap = 8;
		l->kwset_count = 1;
	}
	if (l->kwset_count == l->kwset_cap) {
		char **n = realloc(l->kwsets, (size_t)l->kwset_cap * 2 * sizeof(char *));
		if (n == NULL)
			return -1;
		l->kwsets = n;
		l->kwset_cap *= 2;
	}
	char *copy = strdup(kw);
	if (copy == NULL)
		return -1;
	l->kwsets[l->kwset_count] = copy;
	return l->kwset_count++;
}

static int push_msg(struct store_msg_list *l, const struct store_msg *m, const char *kw)
{
	long kwset = intern_keywords(l, kw);
	if (kwset < 0)
		return -1;
	if (l->count == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 64;
		struct store_msg *n = realloc(l->msgs, (size_t)cap * sizeof(*n));
		if (n == NULL)
			return -1;
		l->msgs = n;
		l->cap = cap;
	}
	l->msgs[l->count] = *m;
	l->msgs[l->count].kwset = (uint32_t)kwset;
	l->count++;
	return 1;
}

int imap_view_update_msg(struct imap_session *s, const struct store_msg_list *from,
			 const struct store_msg *m)
{
	struct store_msg_list *l = s->view.msgs;
	if (l == NULL)
		return 0;
	long i = store_msg_list_find(l, m->uid);
	if (i < 0)
		return 0;
	long kwset = intern_keywords(l, store_msg_keywords(from, m));
	if (kwset < 0)
		return -1;
	l->msgs[i].flags = m->flags;
	l->msgs[i].kwset = (uint32_t)kwset;
	l->msgs[i].modseq = m->modseq;
	return 1;
}

void imap_format_flags(struct buf *out, uint8_t flags, const char *keywords)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} names[] = {
		{ STORE_FLAG_SEEN, "\\Seen" },	   { STORE_FLAG_ANSWERED, "\\Answered" },
		{ STORE_FLAG_FLAGGED, "\\Flagged" }, { STORE_FLAG_DELETED, "\\Deleted" },
		{ STORE_FLAG_DRAFT, "\\Draft" },
	};
	bool first = true;
	buf_append_char(out, '(');
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((flags & names[i].bit) == 0)
			continue;
		if (!first)
			buf_append_char(out, ' ');
		buf_append_cstr(out, names[i].name);
		first = false;
	}
	if (keywords != NULL && keywords[0] != '\0') {
		if (!first)
			buf_append_char(out, ' ');
		buf_append_cstr(out, keywords);
	}
	buf_append_char(out, ')');
}

/* "* <msn> FETCH (UID u FLAGS (...) [MODSEQ (m)])". The UID is always
 * included: RFC 7162 3.2.4 requires it under QRESYNC, and it costs
 * nothing otherwise. */
static void send_flags_fetch(struct imap_session *s, uint32_t msn, const struct store_msg *m)
{
	struct buf b = BUF_INIT(0);
	buf_printf(&b, "* %u FETCH (UID %u FLAGS ", msn, m->uid);
	imap_format_flags(&b, m->flags, store_msg_keywords(s->view.msgs, m));
	if (imap_session_condstore(s))
		buf_printf(&b, " MODSEQ (%llu)", (unsigned long long)m->modseq);
	buf_append_cstr(&b, ")\r\n");
	imap_session_write_buf(s, &b);
	buf_free(&b);
}

static bool uid_in(const struct store_uid_array *a, uint32_t uid)
{
	size_t lo = 0, hi = a->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->uids[mid] == uid)
			return true;
		if (a->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Adds uid to the ascending pending list (if absent). -1 on OOM. */
static int pending_add(struct store_uid_array *a, uint32_t uid)
{
	if (uid_in(a, uid))
		return 1;
	if (a->count == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		uint32_t *n = realloc(a->uids, cap * sizeof(*n));
		if (n == NULL)
			return -1;
		a->uids = n;
		a->cap = cap;
	}
	size_t i = a->count;
	while (i > 0 && a->uids[i - 1] > uid) {
		a->uids[i] = a->uids[i - 1];
		i--;
	}
	a->uids[i] = uid;
	a->count++;
	return 1;
}

/* Removes the given UIDs (ascending) from the view and announces them.
 * One pass to find them, one to compact: expunging many messages of a big
 * mailbox stays linear. */
void imap_view_expunged(struct imap_session *s, const uint32_t *uids, size_t count, bool silent)
{
	struct store_msg_list *l = s->view.msgs;
	if (l == NULL || count == 0)
		return;
	bool vanished = (s->enabled & IMAP_ENABLED_QRESYNC) != 0;
	uint32_t *gone = malloc(count * sizeof(*gone)); /* indexes into l->msgs */
	if (gone == NULL)
		return;
	size_t n = 0;
	for (size_t i = 0, k = 0; i < l->count && k < count;) {
		if (l->msgs[i].uid < uids[k]) {
			i++;
		} else if (l->msgs[i].uid > uids[k]) {
			k++;
		} else {
			gone[n++] = (uint32_t)i;
			i++;
			k++;
		}
	}
	if (!silent && n > 0) {
		if (vanished) {
			/* RFC 7162 3.2.10: VANISHED replaces EXPUNGE under QRESYNC. */
			struct imap_seqset set = IMAP_SEQSET_INIT;
			for (size_t j = 0; j < n; j++)
				imap_seqset_add(&set, l->msgs[gone[j]].uid);
			struct buf b = BUF_INIT(0);
			buf_append_cstr(&b, "* VANISHED ");
			imap_seqset_format(&set, &b);
			buf_append_cstr(&b, "\r\n");
			imap_session_write_buf(s, &b);
			buf_free(&b);
			imap_seqset_clear(&set);
		} else {
			/* From the highest MSN down: each number is then still
			 * valid when the client reads it (RFC 9051 7.4.1). */
			for (size_t j = n; j-- > 0;)
				imap_session_printf(s, "* %u EXPUNGE\r\n", gone[j] + 1);
		}
	}
	size_t w = 0;
	for (size_t i = 0, j = 0; i < l->count; i++) {
		if (j < n && gone[j] == i) {
			j++;
			continue;
		}
		l->msgs[w++] = l->msgs[i];
	}
	l->count = (uint32_t)w;
	free(gone);

	/* Whatever was pending for these UIDs is done now. */
	struct store_uid_array *p = &s->view.pending_expunges;
	w = 0;
	for (size_t r = 0; r < p->count; r++) {
		if (store_msg_list_find(l, p->uids[r]) >= 0)
			p->uids[w++] = p->uids[r];
	}
	p->count = w;
}

int imap_view_sync(struct imap_session *s, bool allow_expunge)
{
	struct imap_view *v = &s->view;
	if (v->msgs == NULL)
		return 1;

	if (atomic_exchange(&v->changed, false)) {
		struct store_changes *ch = NULL;
		if (store_changes_since(s->user, v->mailbox_id, v->highestmodseq, &ch) < 0) {
			const char *msg;
			enum store_error err = store_error(&msg);
			if (err == STORE_ERR_NONEXISTENT)
				return -1;
			log_warn("imap-sync-failed", "%s mailbox=%llu error=\"%s\"",
				 conn_log_prefix(s->conn), (unsigned long long)v->mailbox_id, msg);
			atomic_store(&v->changed, true);
			return 1;
		}
		struct store_msg_list *l = v->msgs;
		for (size_t i = 0; i < ch->expunged.count; i++) {
			if (store_msg_list_find(l, ch->expunged.uids[i]) >= 0)
				pending_add(&v->pending_expunges, ch->expunged.uids[i]);
		}
		uint32_t old_count = l->count;
		uint32_t max_uid = imap_view_max_uid(s);
		for (uint32_t i = 0; i < ch->changed.count; i++) {
			const struct store_msg *m = &ch->changed.msgs[i];
			const char *kw = store_msg_keywords(&ch->changed, m);
			long idx = store_msg_list_find(l, m->uid);
			if (idx >= 0) {
				struct store_msg *old = &l->msgs[idx];
				bool differs = old->flags != m->flags ||
					       strcmp(store_msg_keywords(l, old), kw) != 0;
				bool modseq_moved = old->modseq != m->modseq;
				if (!differs && !modseq_moved)
					continue;
				imap_view_update_msg(s, &ch->changed, m);
				/* RFC 7162 3.2: under CONDSTORE a modseq change is
				 * news too; announce unless it is going away. */
				if ((differs || imap_session_condstore(s)) &&
				    !uid_in(&v->pending_expunges, m->uid))
					send_flags_fetch(s, (uint32_t)idx + 1, &l->msgs[idx]);
			} else if (m->uid > max_uid) {
				if (push_msg(l, m, kw) < 0)
					break;
				max_uid = m->uid;
			}
		}
		if (l->count != old_count)
			imap_session_printf(s, "* %u EXISTS\r\n", l->count);
		if (ch->changed.highestmodseq > v->highestmodseq)
			v->highestmodseq = ch->changed.highestmodseq;
		if (ch->changed.uidnext > v->uidnext)
			v->uidnext = ch->changed.uidnext;
		store_changes_free(&ch);
	}
	if (allow_expunge && v->pending_expunges.count > 0) {
		size_t n = v->pending_expunges.count;
		uint32_t *copy = malloc(n * sizeof(*copy));
		if (copy != NULL) {
			memcpy(copy, v->pending_expunges.uids, n * sizeof(*copy));
			imap_view_expunged(s, copy, n, false);
			free(copy);
		}
		v->pending_expunges.count = 0;
	}
	return 1;
}

static void watch_cb(void *ctx, uint64_t mailbox_id, uint64_t highestmodseq)
{
	struct imap_session *s = ctx;
	atomic_store(&s->view.changed, true);
	conn_wakeup_signal(s->wakeup);
}

int imap_view_watch(struct imap_session *s, uint64_t mailbox_id, struct store_watch **watch_r)
{
	return store_watch_add(s->user, mailbox_id, watch_cb, s, watch_r);
}

void imap_store_err_save(struct imap_store_err *e)
{
	const char *msg;
	e->err = store_error(&msg);
	e->code = store_error_imap_code(e->err);
	snprintf(e->msg, sizeof(e->msg), "%s", msg != NULL && msg[0] != '\0' ? msg : "Internal error");
}

void imap_cmd_no_saved(struct imap_cmd *cmd, const struct imap_store_err *e)
{
	if (e->code != NULL && e->code[0] != '\0')
		imap_cmd_no(cmd, "[%s] %s", e->code, e->msg);
	else
		imap_cmd_no(cmd, "%s", e->msg);
}

void imap_view_close(struct imap_session *s)
{
	struct imap_view *v = &s->view;
	store_watch_remove(&v->watch);
	store_msg_list_free(&v->msgs);
	store_uid_array_free(&v->pending_expunges);
	memset(&v->pending_expunges, 0, sizeof(v->pending_expunges));
	if (v->saved_result != NULL) {
		imap_seqset_clear(v->saved_result);
		free(v->saved_result);
		v->saved_result = NULL;
	}
	free(v->name);
	v->name = NULL;
	v->mailbox_id = 0;
	v->highestmodseq = 0;
	v->uidvalidity = v->uidnext = 0;
	v->readonly = false;
	atomic_store(&v->changed, false);
	if (s->state == IMAP_STATE_SELECTED)
		s->state = IMAP_STATE_AUTH;
}

bool imap_view_loading(const struct imap_session *s)
{
	return s->view.loading != NULL;
}

void imap_session_changed(struct imap_session *s)
{
	/* The same wakeup carries "SELECT's head is ready" from the loading
	 * thread. */
	if (s->view.loading != NULL)
		imap_select_wakeup(s);
	/* Outside IDLE the news waits for the end of the next command
	 * (RFC 9051 7: unsolicited responses only while a command runs or
	 * during IDLE); IDLE pushes it now. */
	if (s->idling)
		imap_idle_push(s);
}

void imap_session_mailbox_gone(struct imap_session *s)
{
	imap_session_write_cstr(s, "* BYE The selected mailbox was deleted.\r\n");
	imap_view_close(s);
	conn_close(s->conn, "mailbox deleted");
}
