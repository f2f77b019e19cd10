/* imap-seqset-view.c - sequence sets resolved against the selected
 * mailbox's view (message sequence numbers as the client knows them). */
#include "imap/imap-seqset.h"

#include "imap/imap-session.h"
#include "lib/pool.h"

static int add_uid_as_msn(struct imap_session *s, uint32_t uid, struct imap_seqset *msns)
{
	uint32_t msn = imap_view_msn(s, uid);
	return msn == 0 ? 1 : imap_seqset_add(msns, msn);
}

int imap_seqset_to_msns(struct imap_session *s, struct str text, bool uid,
                        struct imap_seqset *msns_r, const char **error_r)
{
	struct imap_seqset set = IMAP_SEQSET_INIT;
	uint32_t count = imap_view_count(s);
	int ret = 1;
	imap_seqset_clear(msns_r);
	if (imap_seqset_parse(text, true, &set, error_r) < 0)
		return -1;
	if (set.last_result) {
		/* RFC 5182 2.1: "$" names the saved UIDs, in either form. */
		const struct imap_seqset *saved = s->view.saved_result;
		struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
		uint32_t n;
		while (saved != NULL && ret > 0 && imap_seqset_iter_next(saved, &it, &n))
			ret = add_uid_as_msn(s, n, msns_r);
	} else if (uid) {
		imap_seqset_resolve(&set, imap_view_max_uid(s));
		/* Walk the smaller side: the view or the set's numbers. */
		if (imap_seqset_count(&set) < count) {
			struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
			uint32_t n;
			while (ret > 0 && imap_seqset_iter_next(&set, &it, &n))
				ret = add_uid_as_msn(s, n, msns_r);
		} else {
			for (uint32_t msn = 1; ret > 0 && msn <= count; msn++) {
				if (imap_seqset_contains(&set, imap_view_msg(s, msn)->uid))
					ret = imap_seqset_add(msns_r, msn);
			}
		}
	} else {
		imap_seqset_resolve(&set, count);
		/* RFC 9051 9: a number beyond the last message is BAD; so is
		 * "*" in an empty mailbox (it resolved to nothing). */
		bool star_empty = count == 0 && imap_seqset_is_empty(&set);
		if (star_empty || imap_seqset_max(&set) > count) {
			*error_r = count == 0 ? "No messages in the mailbox"
			                      : "Message sequence number out of range";
			imap_seqset_clear(&set);
			return -1;
		}
		ret = imap_seqset_copy(msns_r, &set);
	}
	imap_seqset_clear(&set);
	if (ret < 0) {
		*error_r = "Out of memory";
		imap_seqset_clear(msns_r);
		return -1;
	}
	return 1;
}

int imap_seqset_msns_to_store(struct imap_session *s, const struct imap_seqset *msns,
                              struct pool *pool, struct imap_seqset *uids_r,
                              struct store_uidset *store_r)
{
	struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
	uint32_t msn;
	imap_seqset_clear(uids_r);
	while (imap_seqset_iter_next(msns, &it, &msn)) {
		const struct store_msg *m = imap_view_msg(s, msn);
		if (m != NULL && imap_seqset_add(uids_r, m->uid) < 0)
			return -1;
	}
	struct store_uid_range *ranges = NULL;
	if (uids_r->count > 0) {
		ranges = pool_alloc(pool, uids_r->count * sizeof(*ranges));
		if (ranges == NULL)
			return -1;
		for (size_t i = 0; i < uids_r->count; i++)
			ranges[i] =
			    (struct store_uid_range){uids_r->ranges[i].lo, uids_r->ranges[i].hi};
	}
	store_r->ranges = ranges;
	store_r->count = uids_r->count;
	return 1;
}
