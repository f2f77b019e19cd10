/* cmd-fetch.c - FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9; RFC 3516
 * BINARY; RFC 7162 CHANGEDSINCE, VANISHED, MODSEQ).
 *
 * Check first, then act: the items, modifiers and the sequence set are
 * parsed and validated before anything is sent or changed. Then:
 *
 *  1. Implicit \Seen (non-PEEK BODY[]/BINARY[] on a read-write mailbox) is
 *     set for all the messages at once, before any response, so each
 *     message's FETCH can report its new FLAGS.
 *  2. Messages are answered one at a time, in ascending order. Bodies are
 *     never loaded whole: a section is a byte range of the message file,
 *     read and queued 256 KiB at a time while the connection's output is
 *     not full; when it is, the command parks itself
 *     (cmd->resume) and the session calls it again from output_drained.
 *     BINARY sections go through a transfer-encoding decoder chunk by
 *     chunk, the same way. Only HEADER.FIELDS subsets (headers are small)
 *     are built in memory.
 *
 * Every per-message resource (cache blob, file descriptor) is held only
 * while that message is being answered. */
#include "imap/imap-commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "imap/imap-fetch-body.h"
#include "imap/imap-fetch.h"
#include "imap/imap-seqset.h"
#include "lib/imap-quote.h"
#include "lib/log.h"
#include "lib/pool.h"
#include "mime/mime.h"

/* A HEADER.FIELDS subset is built in memory from a header at most this big
 * (larger headers are not legitimate mail). */
#define FETCH_MAX_FILTERED_HEADER ((size_t)16 * 1024 * 1024)

/* Messages answered in one turn of the event loop when each needs a store
 * read (ENVELOPE, BODYSTRUCTURE, sections): a FETCH 1:* over a large
 * mailbox then shares the worker thread with other connections. */
#define FETCH_MSGS_PER_TURN 64

/* Short responses (FLAGS, UID, sizes) are gathered into one write of
 * about this size: FETCH 1:* over a big mailbox is 100,000s of lines, and
 * one write each costs more than formatting them. */
#define FETCH_LINE_BATCH ((size_t)16 * 1024)

/* A literal of the stored octets at least this long, on a plaintext
 * connection without COMPRESS, is queued as file segments (sendfile: no
 * copy through user space) wherever it holds no NUL. Shorter ones are
 * copied: one send is cheaper than three (prefix, file, rest). */
#define FETCH_ZERO_COPY_MIN ((uint64_t)64 * 1024)

enum fetch_stream_kind { STREAM_NONE, STREAM_FILE, STREAM_DECODE };

struct fetch_ctx {
	struct imap_cmd *cmd;
	struct imap_session *s;
	struct imap_fetch_request req;
	struct imap_seqset msns;
	struct imap_seqset_iter it;
	struct imap_seqset seen_uids; /* \Seen set implicitly by this FETCH */
	struct store_uidset seen_set; /* the UIDs to set it on (pool) */
	struct store_flags_result seen_res;
	int seen_ret;
	char seen_err[200];
	bool report_modseq; /* add MODSEQ to implicit FLAGS updates */

	bool need_file;     /* some item reads the message file */
	/* FLAGS text of each system-flag combination without keywords,
	 * formatted once per command (NULL until the first FLAGS); len 0:
	 * not yet. FETCH 1:* (FLAGS) repeats a handful of them a million
	 * times. */
	struct fetch_flags_text {
		uint8_t len;
		char text[47];
	} *flags_text;

	/* the message being answered */
	bool in_msg;
	const struct store_msg *msg;
	size_t item;
	bool first_item;
	struct buf blob;
	struct mime_cache cache;
	int fd;
	uint64_t fd_size;

	/* a section being streamed */
	enum fetch_stream_kind stream;
	bool replace_nul;       /* STREAM_FILE into a literal: NUL -> 0x80 */
	bool zero_copy;         /* STREAM_FILE: see FETCH_ZERO_COPY_MIN */
	uint64_t s_off, s_left; /* raw octets of the file still to read */
	struct imap_fetch_decoder dec;
	uint64_t skip, take; /* decoded octets to drop, then to send */
	struct buf chunk, decoded, line;

	struct event *yield_ev; /* continue on the loop's next turn */
	unsigned since_yield;   /* messages answered in this turn */

	const char *no_text; /* a message could not be answered */
	bool expunge_issued;
};

static void fetch_msg_done(struct fetch_ctx *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	buf_reset(&f->blob);
	f->in_msg = false;
	f->stream = STREAM_NONE;
}

static void fetch_free(struct fetch_ctx *f)
{
	fetch_msg_done(f);
	buf_free(&f->blob);
	buf_free(&f->chunk);
	buf_free(&f->decoded);
	buf_free(&f->line);
	imap_seqset_clear(&f->msns);
	imap_seqset_clear(&f->seen_uids);
	store_flags_result_free(&f->seen_res);
	if (f->yield_ev != NULL) {
		event_free(f->yield_ev);
		f->yield_ev = NULL;
	}
}

/* Turns the arguments after the sequence set back into the one-line text
 * imap_fetch_parse() reads: the parser has already split it into atoms
 * (a section with its header list is one atom) and lists. */
static int args_to_text(const struct imap_arg *args, struct buf *out, unsigned depth)
{
	for (size_t i = 0; args[i].type != IMAP_ARG_EOL; i++) {
		if (i > 0 && buf_append_char(out, ' ') < 0)
			return -1;
		switch (args[i].type) {
		case IMAP_ARG_ATOM:
			if (buf_append_str(out, args[i].str) < 0)
				return -1;
			break;
		case IMAP_ARG_STRING:
			if (imap_append_string(out, args[i].str, 0) < 0 ||
			    out->data[out->len - 1] != '"')
				return -1;
			break;
		case IMAP_ARG_LIST:
			if (depth > 1 || buf_append_char(out, '(') < 0 ||
			    args_to_text(args[i].list, out, depth + 1) < 0 ||
			    buf_append_char(out, ')') < 0)
				return -1;
			break;
		default:
			return -1;
		}
	}
	return 1;
}

static void format_internaldate(struct buf *out, int64_t t, int tz_minutes)
{
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t local = (time_t)(t + (int64_t)tz_minutes * 60);
	struct tm tm;
	if (gmtime_r(&local, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	int tz = tz_minutes < 0 ? -tz_minutes : tz_minutes;
	/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP
	 * time SP zone DQUOTE (RFC 9051 9) */
	buf_printf(out, "\"%2d-%s-%04d %02d:%02d:%02d %c%02d%02d\"", tm.tm_mday,
	           months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	           tz_minutes < 0 ? '-' : '+', tz / 60, tz % 60);
}

/* buf_append for the per-message path: the batch buffer nearly always
 * has room already, so the common case is one compare and a memcpy. */
static inline void line_put(struct fetch_ctx *f, const char *p, size_t len)
{
	struct buf *b = &f->line;
	if (b->cap > 0 && len < b->cap - b->len) {
		memcpy(b->data + b->len, p, len);
		b->len += len;
		b->data[b->len] = '\0';
	} else {
		buf_append(b, p, len);
	}
}

#define LINE_LIT(f, lit) line_put((f), (lit), sizeof(lit) - 1)

static void write_line(struct fetch_ctx *f)
{
	if (f->line.len == 0)
		return;
	imap_session_write_buf(f->s, &f->line);
	buf_reset(&f->line);
}

/* Decimal digits of v onto the response, without printf (FETCH 1:*
 * formats two numbers a message): two digits per division, and 32-bit
 * divisions for the values that fit (message numbers, UIDs, sizes). */
static void append_u64(struct fetch_ctx *f, uint64_t v)
{
	static const char pairs[201] = "00010203040506070809101112131415161718192021222324"
				       "25262728293031323334353637383940414243444546474849"
				       "50515253545556575859606162636465666768697071727374"
				       "75767778798081828384858687888990919293949596979899";
	char tmp[20];
	char *p = tmp + sizeof(tmp);
	while (v > UINT32_MAX) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		p -= 2;
		memcpy(p, pairs + 2 * r, 2);
	}
	uint32_t w = (uint32_t)v;
	while (w >= 100) {
		unsigned r = w % 100;
		w /= 100;
		p -= 2;
		memcpy(p, pairs + 2 * r, 2);
	}
	if (w >= 10) {
		p -= 2;
		memcpy(p, pairs + 2 * w, 2);
	} else {
		*--p = (char)('0' + w);
	}
	line_put(f, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* Loads the message's mime cache; rebuilds it from the file if the stored
 * one is missing or from an older version. 1 ok, 0 message gone, -1 error. */
static int load_cache(struct fetch_ctx *f)
{
	struct store_user *u = f->s->user;
	buf_reset(&f->blob);
	int ret = store_msg_cache(u, f->msg->blob_id, &f->blob);
	if (ret == 0)
		return 0;
	if (ret > 0 && mime_cache_open(&f->cache, f->blob.data, f->blob.len) > 0)
		return 1;
	/* Rebuild from the message itself. */
	int fd;
	uint64_t size;
	ret = store_msg_open(u, f->msg->blob_id, &fd, &size);
	if (ret <= 0)
		return ret;
	struct buf msg = BUF_INIT(0);
	ret = size < MIME_MAX_MESSAGE_SIZE && imap_fetch_read_range(fd, 0, (size_t)size, &msg) > 0
	          ? 1
	          : -1;
	close(fd);
	buf_reset(&f->blob);
	if (ret > 0 && (mime_cache_build(msg.data ? msg.data : "", msg.len, &f->blob) < 0 ||
	                mime_cache_open(&f->cache, f->blob.data, f->blob.len) < 0))
		ret = -1;
	buf_free(&msg);
	return ret;
}

static bool item_needs_file(const struct imap_fetch_item *item)
{
	return item->kind == IMAP_FETCH_SECTION || item->kind == IMAP_FETCH_BINARY ||
	       item->kind == IMAP_FETCH_BINARY_SIZE;
}

/* Prepares the next message; 1 started (its "* n FETCH (" is queued), 0
 * skipped, -1 fatal. */
static int start_message(struct fetch_ctx *f, uint32_t msn)
{
	const struct store_msg *m = imap_view_msg(f->s, msn);
	if (m == NULL)
		return 0;
	/* RFC 7162 3.1.4.1: CHANGEDSINCE limits the answer to messages whose
	 * modseq is greater. */
	if (f->req.has_changedsince && m->modseq <= f->req.changedsince)
		return 0;
	f->msg = m;
	if (f->req.needs_cache) {
		int ret = load_cache(f);
		if (ret <= 0) {
			if (ret == 0)
				f->expunge_issued = true;
			else
				f->no_text = "[SERVERBUG] Could not read some messages";
			return 0;
		}
	}
	if (f->need_file) {
		int ret = store_msg_open(f->s->user, m->blob_id, &f->fd, &f->fd_size);
		if (ret <= 0) {
			if (ret == 0)
				f->expunge_issued = true;
			else
				f->no_text = "[SERVERBUG] Could not read some messages";
			f->fd = -1;
			return 0;
		}
		/* BINARY items that cannot be answered (unknown encoding, not a
		 * leaf) make the whole message's response impossible: leave it
		 * out and fail the command at the end (RFC 3516 4.3). */
		for (size_t i = 0; i < f->req.count; i++) {
			const struct imap_fetch_item *item = &f->req.items[i];
			struct imap_fetch_source src;
			const char *err;
			if (item->kind != IMAP_FETCH_BINARY && item->kind != IMAP_FETCH_BINARY_SIZE)
				continue;
			if (imap_fetch_locate(item, &f->cache, f->fd_size, &src, &err) < 0) {
				f->no_text = err;
				fetch_msg_done(f);
				return 0;
			}
		}
	}
	f->in_msg = true;
	f->item = 0;
	f->first_item = true;
	LINE_LIT(f, "* ");
	append_u64(f, msn);
	LINE_LIT(f, " FETCH (");
	return 1;
}

static void item_sep(struct fetch_ctx *f)
{
	if (!f->first_item)
		LINE_LIT(f, " ");
	f->first_item = false;
}

/* Queues "NAME {n}\r\n" (or ~{n} for literal8) and arranges the octets. */
static int emit_section(struct fetch_ctx *f, const struct imap_fetch_item *item)
{
	struct imap_fetch_source src;
	const char *err;
	uint64_t off, len;
	item_sep(f);
	if (imap_fetch_item_name(item, &f->line) < 0)
		return -1;
	if (imap_fetch_locate(item, &f->cache, f->fd_size, &src, &err) < 0) {
		/* Only SECTION items get here with errors (a damaged cache):
		 * answer NIL for this item and report it. */
		f->no_text = err;
		buf_append_cstr(&f->line, " NIL");
		return 1;
	}
	switch (src.kind) {
	case IMAP_SOURCE_NIL:
		if (item->kind == IMAP_FETCH_BINARY_SIZE)
			buf_append_cstr(&f->line, " 0");
		else
			buf_append_cstr(&f->line, " NIL");
		return 1;
	case IMAP_SOURCE_RANGE:
		if (item->kind == IMAP_FETCH_BINARY_SIZE) {
			buf_printf(&f->line, " %llu", (unsigned long long)src.len);
			return 1;
		}
		imap_fetch_partial_range(item, src.len, &off, &len);
		/* BINARY[] is the message as stored, NULs and all: literal8
		 * (RFC 3516 4.2). BODY literals get NULs replaced. */
		f->replace_nul = item->kind != IMAP_FETCH_BINARY;
		buf_printf(&f->line, " %s{%llu}\r\n", f->replace_nul ? "" : "~",
		           (unsigned long long)len);
		write_line(f);
		f->stream = STREAM_FILE;
		f->s_off = src.off + off;
		f->s_left = len;
		/* A TLS or DEFLATE filter must see the bytes (libevent would
		 * map the whole range for it). */
		f->zero_copy = len >= FETCH_ZERO_COPY_MIN && !conn_is_tls(f->s->conn) &&
		               !conn_is_compressed(f->s->conn);
		return 1;
	case IMAP_SOURCE_FILTERED: {
		if (src.len > FETCH_MAX_FILTERED_HEADER)
			return -1;
		struct buf *hdr = &f->chunk, *out = &f->decoded;
		buf_reset(hdr);
		buf_reset(out);
		if (imap_fetch_read_range(f->fd, src.off, (size_t)src.len, hdr) < 0 ||
		    imap_fetch_filter_header(buf_str(hdr), item->fields, item->nfields,
		                             item->spec == IMAP_SPEC_HEADER_FIELDS_NOT, out) < 0)
			return -1;
		/* RFC 9051 6.4.5: a partial of HEADER.FIELDS is taken after
		 * subsetting. */
		imap_fetch_partial_range(item, out->len, &off, &len);
		for (size_t i = 0; i < out->len; i++)
			if (out->data[i] == '\0')
				out->data[i] = (char)0x80;
		buf_printf(&f->line, " {%llu}\r\n", (unsigned long long)len);
		buf_append(&f->line, out->data ? out->data + off : "", (size_t)len);
		return 1;
	}
	case IMAP_SOURCE_DECODED: {
		uint64_t size;
		bool has_nul;
		if (imap_fetch_decoded_size(f->fd, src.off, src.len, src.cte, &size, &has_nul) < 0)
			return -1;
		if (item->kind == IMAP_FETCH_BINARY_SIZE) {
			buf_printf(&f->line, " %llu", (unsigned long long)size);
			return 1;
		}
		imap_fetch_partial_range(item, size, &off, &len);
		/* RFC 3516 4.2: content with NULs needs literal8. */
		buf_printf(&f->line, " %s{%llu}\r\n", has_nul ? "~" : "", (unsigned long long)len);
		write_line(f);
		f->stream = STREAM_DECODE;
		f->s_off = src.off;
		f->s_left = src.len;
		f->skip = off;
		f->take = len;
		imap_fetch_decoder_init(&f->dec, src.cte);
		return 1;
	}
	}
	return -1;
}

static void emit_flags(struct fetch_ctx *f)
{
	LINE_LIT(f, "FLAGS ");
	const char *kw = store_msg_keywords(f->s->view.msgs, f->msg);
	if (kw[0] != '\0' || (f->msg->flags & ~STORE_FLAG_MASK) != 0) {
		imap_format_flags(&f->line, f->msg->flags, kw);
		return;
	}
	if (f->flags_text == NULL)
		f->flags_text = pool_alloc(f->cmd->pool, (STORE_FLAG_MASK + 1) * sizeof(*f->flags_text));
	if (f->flags_text == NULL) {
		imap_format_flags(&f->line, f->msg->flags, kw);
		return;
	}
	/* The same formatter as every other FLAGS response, once per value. */
	struct fetch_flags_text *t = &f->flags_text[f->msg->flags];
	if (t->len == 0) {
		struct buf b = BUF_INIT(sizeof(t->text));
		imap_format_flags(&b, f->msg->flags, "");
		if (b.len == 0 || b.len > sizeof(t->text)) {
			buf_free(&b);
			imap_format_flags(&f->line, f->msg->flags, kw);
			return;
		}
		memcpy(t->text, b.data, b.len);
		t->len = (uint8_t)b.len;
		buf_free(&b);
	}
	line_put(f, t->text, t->len);
}

static int emit_item(struct fetch_ctx *f, const struct imap_fetch_item *item)
{
	const struct store_msg *m = f->msg;
	struct str s;
	switch (item->kind) {
	case IMAP_FETCH_UID:
		item_sep(f);
		LINE_LIT(f, "UID ");
		append_u64(f, m->uid);
		return 1;
	case IMAP_FETCH_FLAGS:
		item_sep(f);
		emit_flags(f);
		return 1;
	case IMAP_FETCH_INTERNALDATE:
		item_sep(f);
		buf_append_cstr(&f->line, "INTERNALDATE ");
		format_internaldate(&f->line, m->internal_date, m->tz_minutes);
		return 1;
	case IMAP_FETCH_RFC822_SIZE:
		item_sep(f);
		LINE_LIT(f, "RFC822.SIZE ");
		append_u64(f, m->size);
		return 1;
	case IMAP_FETCH_MODSEQ:
		item_sep(f);
		LINE_LIT(f, "MODSEQ (");
		append_u64(f, m->modseq);
		LINE_LIT(f, ")");
		return 1;
	case IMAP_FETCH_ENVELOPE:
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
		item_sep(f);
		if (item->kind == IMAP_FETCH_ENVELOPE) {
			buf_append_cstr(&f->line, "ENVELOPE ");
			s = mime_cache_envelope(&f->cache);
		} else if (item->kind == IMAP_FETCH_BODY) {
			buf_append_cstr(&f->line, "BODY ");
			s = mime_cache_body(&f->cache);
		} else {
			buf_append_cstr(&f->line, "BODYSTRUCTURE ");
			s = mime_cache_bodystructure(&f->cache);
		}
		buf_append_str(&f->line, s);
		return 1;
	case IMAP_FETCH_SECTION:
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		return emit_section(f, item);
	}
	return -1;
}

static void end_message(struct fetch_ctx *f)
{
	/* RFC 9051 6.4.5: flags changed by an implicit \Seen SHOULD be
	 * reported; with CONDSTORE their modseq too (RFC 7162 3.2). */
	if (!f->req.has_flags && imap_seqset_contains(&f->seen_uids, f->msg->uid)) {
		item_sep(f);
		emit_flags(f);
		if (f->report_modseq && !f->req.has_modseq)
			buf_printf(&f->line, " MODSEQ (%llu)", (unsigned long long)f->msg->modseq);
	}
	LINE_LIT(f, ")\r\n");
	/* Sent in batches; whatever is gathered goes out before a literal
	 * (emit_section), a pause and the tagged reply (fetch_continue). */
	if (f->line.len >= FETCH_LINE_BATCH)
		write_line(f);
	fetch_msg_done(f);
}

/* Sends the next piece of a streamed section. -1 on an I/O error (the
 * literal's length is already on the wire: the connection must close). */
static int stream_step(struct fetch_ctx *f)
{
	if (f->stream == STREAM_FILE) {
		/* One bounded piece at a time. A literal may not carry NUL
		 * octets (RFC 9051 4.3, CHAR8), and a message APPENDed as
		 * literal8 (RFC 3516) can hold some: they become 0x80, as
		 * Dovecot does; the length stays the same. So a BODY piece is
		 * read and checked before it may go out as a file segment. */
		size_t n =
		    f->s_left < 4 * IMAP_FETCH_CHUNK ? (size_t)f->s_left : 4 * IMAP_FETCH_CHUNK;
		bool as_file = f->zero_copy && n > 0 && !f->replace_nul;
		if (n > 0 && !as_file) {
			buf_reset(&f->chunk);
			if (imap_fetch_read_range(f->fd, f->s_off, n, &f->chunk) < 0)
				return -1;
			char *p = f->chunk.data, *end = p + n;
			if (f->replace_nul && (p = memchr(p, '\0', n)) != NULL) {
				do
					*p++ = (char)0x80;
				while (p < end && (p = memchr(p, '\0', (size_t)(end - p))) != NULL);
			} else {
				as_file = f->zero_copy;
			}
		}
		if (as_file) {
			if (conn_write_file(f->s->conn, f->fd, (off_t)f->s_off, n) < 0)
				return -1;
		} else if (n > 0) {
			imap_session_write(f->s, f->chunk.data, n);
		}
		f->s_off += n;
		f->s_left -= n;
		if (f->s_left == 0)
			f->stream = STREAM_NONE;
		return 1;
	}
	/* STREAM_DECODE: read a chunk, decode, drop `skip`, send up to `take`. */
	buf_reset(&f->chunk);
	buf_reset(&f->decoded);
	bool last = f->s_left == 0;
	if (!last) {
		size_t n = f->s_left < IMAP_FETCH_CHUNK ? (size_t)f->s_left : IMAP_FETCH_CHUNK;
		if (imap_fetch_read_range(f->fd, f->s_off, n, &f->chunk) < 0 ||
		    imap_fetch_decoder_feed(&f->dec, f->chunk.data, n, &f->decoded) < 0)
			return -1;
		f->s_off += n;
		f->s_left -= n;
	} else if (imap_fetch_decoder_finish(&f->dec, &f->decoded) < 0) {
		return -1;
	}
	const char *p = f->decoded.data ? f->decoded.data : "";
	size_t len = f->decoded.len;
	size_t drop = f->skip < len ? (size_t)f->skip : len;
	f->skip -= drop;
	p += drop;
	len -= drop;
	if (len > f->take)
		len = (size_t)f->take;
	if (len > 0)
		imap_session_write(f->s, p, len);
	f->take -= len;
	if (last || f->take == 0) {
		if (f->take != 0)
			return -1; /* the file decoded shorter than measured */
		f->stream = STREAM_NONE;
	}
	return 1;
}

static void fetch_finish(struct fetch_ctx *f)
{
	struct imap_cmd *cmd = f->cmd;
	if (!conn_is_closing(f->s->conn))
		write_line(f);
	if (f->no_text != NULL)
		imap_cmd_no(cmd, "%s", f->no_text);
	else if (f->expunge_issued)
		/* RFC 9051 7.1: EXPUNGEISSUED - some messages were expunged
		 * by another session and could not be fetched. */
		imap_cmd_no(cmd, "[EXPUNGEISSUED] Some messages were expunged meanwhile");
	else
		imap_cmd_ok(cmd, "%s completed", cmd->name);
	fetch_free(f);
	cmd->resume = NULL;
}

/* The session calls this once when the command ends or is abandoned. */
static void fetch_cleanup(struct imap_cmd *cmd)
{
	if (cmd->ctx != NULL)
		fetch_free(cmd->ctx);
	cmd->ctx = NULL;
}

static int fetch_continue(struct imap_cmd *cmd);

static void fetch_yield_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fetch_ctx *f = arg;
	struct imap_cmd *cmd = f->cmd;
	if (fetch_continue(cmd) == 1)
		imap_cmd_complete(cmd);
}

/* Continues the command from the event loop's next turn. 1 scheduled,
 * -1 not (then just go on). The event is freed with the context, so it
 * never fires for a finished or abandoned command. */
static int fetch_yield(struct fetch_ctx *f)
{
	if (f->yield_ev == NULL) {
		f->yield_ev = event_new(conn_event_base(f->s->conn), -1, 0, fetch_yield_cb, f);
		if (f->yield_ev == NULL)
			return -1;
	}
	struct timeval now = {0, 0};
	return event_add(f->yield_ev, &now) == 0 ? 1 : -1;
}

static int fetch_continue(struct imap_cmd *cmd)
{
	struct fetch_ctx *f = cmd->ctx;
	struct conn *c = f->s->conn;
	while (!conn_output_full(c)) {
		if (conn_is_closing(c)) {
			fetch_finish(f);
			return 1;
		}
		if (f->stream != STREAM_NONE) {
			if (stream_step(f) < 0)
				goto io_error;
			continue;
		}
		if (!f->in_msg) {
			uint32_t msn;
			/* Messages whose structure comes from the store cost a
			 * read each: after a batch, let the event loop serve
			 * other connections before going on. */
			if (f->req.needs_cache && ++f->since_yield > FETCH_MSGS_PER_TURN) {
				f->since_yield = 0;
				write_line(f);
				if (fetch_yield(f) > 0) {
					cmd->resume = fetch_continue;
					return 0;
				}
			}
			if (!imap_seqset_iter_next(&f->msns, &f->it, &msn)) {
				fetch_finish(f);
				return 1;
			}
			if (start_message(f, msn) < 0)
				goto io_error;
			/* Without sections nothing is streamed: the message's
			 * whole response in one go, not one loop turn per item
			 * (FETCH 1:* (UID FLAGS) over a million messages). */
			if (f->in_msg && !f->need_file) {
				while (f->item < f->req.count)
					if (emit_item(f, &f->req.items[f->item++]) < 0)
						goto io_error;
				end_message(f);
			}
			continue;
		}
		if (f->item < f->req.count) {
			if (emit_item(f, &f->req.items[f->item++]) < 0)
				goto io_error;
			continue;
		}
		end_message(f);
	}
	write_line(f);
	cmd->resume = fetch_continue;
	return 0;
io_error:
	/* Part of a response (maybe a literal's length) is on the wire; the
	 * stream cannot be repaired, so the connection goes. */
	log_error("imap-fetch-error", "%s uid=%u", conn_log_prefix(c), f->msg ? f->msg->uid : 0);
	conn_close(c, "fetch read error");
	fetch_finish(f);
	return 1;
}

/* The UIDs that a non-PEEK item will mark \Seen (RFC 9051 6.4.5): those
 * about to be read that lack it. 1 if there are any (f->seen_set filled
 * from the pool), 0 if none, -1 on out of memory. */
static int implicit_seen_set(struct fetch_ctx *f)
{
	struct imap_session *s = f->s;
	struct imap_seqset uids = IMAP_SEQSET_INIT;
	struct imap_seqset_iter it = IMAP_SEQSET_ITER_INIT;
	uint32_t msn;
	int ret = 1;
	while (ret > 0 && imap_seqset_iter_next(&f->msns, &it, &msn)) {
		const struct store_msg *m = imap_view_msg(s, msn);
		if (m == NULL || (m->flags & STORE_FLAG_SEEN) != 0)
			continue;
		if (f->req.has_changedsince && m->modseq <= f->req.changedsince)
			continue;
		ret = imap_seqset_add(&uids, m->uid);
	}
	if (ret > 0 && imap_seqset_is_empty(&uids))
		ret = 0;
	struct store_uid_range *ranges = NULL;
	if (ret > 0 && (ranges = pool_alloc(f->cmd->pool, uids.count * sizeof(*ranges))) == NULL)
		ret = -1;
	if (ret > 0) {
		for (size_t i = 0; i < uids.count; i++)
			ranges[i] = (struct store_uid_range){uids.ranges[i].lo, uids.ranges[i].hi};
		f->seen_set = (struct store_uidset){ranges, uids.count};
	}
	imap_seqset_clear(&uids);
	return ret;
}

/* Pool thread: the flag change is a commit (fsync), kept off the event
 * loop. A failure is not fatal: the bodies are still sent, \Seen just
 * stays off (and is logged). */
static void seen_work(void *arg)
{
	struct fetch_ctx *f = arg;
	f->seen_ret = store_flags_change(f->s->user, f->s->view.mailbox_id, &f->seen_set,
	                                 STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, 0, &f->seen_res);
	if (f->seen_ret < 0) {
		const char *msg;
		store_error(&msg);
		snprintf(f->seen_err, sizeof(f->seen_err), "%s", msg ? msg : "");
	}
}

/* Worker thread: take the new flags into the view (and remember which
 * messages to report FLAGS for). */
static void seen_apply(struct fetch_ctx *f)
{
	struct imap_session *s = f->s;
	if (f->seen_ret < 0) {
		log_warn("imap-fetch-seen-failed", "%s error=\"%s\"", conn_log_prefix(s->conn),
		         f->seen_err);
		return;
	}
	for (uint32_t i = 0; i < f->seen_res.changed.count; i++) {
		const struct store_msg *m = &f->seen_res.changed.msgs[i];
		if (imap_view_update_msg(s, &f->seen_res.changed, m) > 0)
			imap_seqset_add(&f->seen_uids, m->uid);
	}
	store_flags_result_free(&f->seen_res);
}

static void seen_done(void *arg)
{
	struct fetch_ctx *f = arg;
	struct imap_cmd *cmd = f->cmd;
	if (!conn_is_closing(f->s->conn))
		seen_apply(f);
	/* Continue as output_drained would: stream until done or full. */
	if (fetch_continue(cmd) == 1)
		imap_cmd_complete(cmd);
}

/* RFC 7162 3.2.6: VANISHED (EARLIER) with the UIDs in the set expunged
 * since the CHANGEDSINCE modseq, before any FETCH response. */
static int send_vanished(struct fetch_ctx *f, struct str set_text)
{
	struct imap_session *s = f->s;
	struct imap_seqset set = IMAP_SEQSET_INIT, vanished = IMAP_SEQSET_INIT;
	const char *err;
	struct store_changes *ch = NULL;
	int ret = 1;
	if (imap_seqset_parse(set_text, true, &set, &err) < 0)
		return -1;
	if (set.last_result) {
		if (s->view.saved_result != NULL)
			imap_seqset_copy(&set, s->view.saved_result);
		else
			set.last_result = false;
	} else {
		uint32_t star = imap_view_max_uid(s);
		if (s->view.uidnext > 0 && s->view.uidnext - 1 > star)
			star = s->view.uidnext - 1;
		imap_seqset_resolve(&set, star);
	}
	if (store_changes_since(s->user, s->view.mailbox_id, f->req.changedsince, &ch) < 0) {
		ret = -1;
		goto out;
	}
	for (size_t i = 0; i < ch->expunged.count; i++) {
		uint32_t uid = ch->expunged.uids[i];
		/* Still in the client's view (not yet announced): not vanished
		 * for it yet; the normal sync will report it. */
		if (imap_seqset_contains(&set, uid) && imap_view_msn(s, uid) == 0)
			imap_seqset_add(&vanished, uid);
	}
	if (!imap_seqset_is_empty(&vanished)) {
		struct buf b = BUF_INIT(0);
		buf_append_cstr(&b, "* VANISHED (EARLIER) ");
		imap_seqset_format(&vanished, &b);
		buf_append_cstr(&b, "\r\n");
		imap_session_write_buf(s, &b);
		buf_free(&b);
	}
out:
	store_changes_free(&ch);
	imap_seqset_clear(&set);
	imap_seqset_clear(&vanished);
	return ret;
}

/* Adds an item the response must carry although it was not asked for. */
static int add_implicit_item(struct pool *pool, struct imap_fetch_request *req,
                             enum imap_fetch_kind kind)
{
	struct imap_fetch_item *items = pool_alloc(pool, (req->count + 1) * sizeof(*items));
	if (items == NULL)
		return -1;
	items[0].kind = kind;
	if (req->count > 0)
		memcpy(items + 1, req->items, req->count * sizeof(*items));
	req->items = items;
	req->count++;
	return 1;
}

int cmd_fetch(struct imap_cmd *cmd)
{
	struct imap_session *s = cmd->session;
	struct str set_text;
	const char *err;

	if (!imap_arg_get_atom(&cmd->args[0], &set_text) || cmd->args[1].type == IMAP_ARG_EOL) {
		imap_cmd_bad(cmd, "FETCH needs a sequence set and data items");
		return 1;
	}
	struct buf text = BUF_INIT(64 * 1024);
	if (args_to_text(&cmd->args[1], &text, 0) < 0) {
		buf_free(&text);
		imap_cmd_bad(cmd, "Invalid FETCH data items");
		return 1;
	}
	struct fetch_ctx *f = pool_alloc(cmd->pool, sizeof(*f));
	if (f == NULL) {
		buf_free(&text);
		imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
		return 1;
	}
	f->cmd = cmd;
	f->s = s;
	f->fd = -1;
	imap_seqset_init(&f->msns);
	imap_seqset_init(&f->seen_uids);
	f->blob = BUF_INIT(0);
	f->chunk = BUF_INIT(0);
	f->decoded = BUF_INIT(0);
	f->line = BUF_INIT(0);
	int ret = imap_fetch_parse(cmd->pool, buf_str(&text), &f->req, &err);
	buf_free(&text);
	if (ret < 0) {
		imap_cmd_bad(cmd, "%s", err);
		return 1;
	}
	if (f->req.vanished) {
		/* RFC 7162 3.2.6: only UID FETCH, only once QRESYNC is enabled. */
		if (!cmd->uid) {
			imap_cmd_bad(cmd, "VANISHED is only allowed with UID FETCH");
			return 1;
		}
		if ((s->enabled & IMAP_ENABLED_QRESYNC) == 0) {
			imap_cmd_bad(cmd, "VANISHED needs ENABLE QRESYNC first");
			return 1;
		}
	}
	if (imap_seqset_to_msns(s, set_text, cmd->uid, &f->msns, &err) < 0) {
		imap_cmd_bad(cmd, "%s", err);
		fetch_free(f);
		return 1;
	}
	/* RFC 7162 3.1: MODSEQ or CHANGEDSINCE turn CONDSTORE on; CHANGEDSINCE
	 * implies MODSEQ in the answers (3.1.4.1). */
	if (f->req.has_modseq || f->req.has_changedsince)
		imap_session_enable_condstore(s);
	if (f->req.has_changedsince && !f->req.has_modseq) {
		if (add_implicit_item(cmd->pool, &f->req, IMAP_FETCH_MODSEQ) < 0)
			goto oom;
		f->req.has_modseq = true;
	}
	/* RFC 9051 6.4.9: UID FETCH answers always carry the UID. */
	if (cmd->uid && !f->req.has_uid) {
		if (add_implicit_item(cmd->pool, &f->req, IMAP_FETCH_UID) < 0)
			goto oom;
		f->req.has_uid = true;
	}
	f->report_modseq = imap_session_condstore(s);
	for (size_t i = 0; i < f->req.count; i++)
		f->need_file |= item_needs_file(&f->req.items[i]);

	/* Checks done: act. */
	if (f->req.vanished && send_vanished(f, set_text) < 0) {
		imap_cmd_no_store_error(cmd);
		fetch_free(f);
		return 1;
	}
	cmd->ctx = f;
	cmd->cleanup = fetch_cleanup;
	f->it = IMAP_SEQSET_ITER_INIT;
	if (f->req.sets_seen && !s->view.readonly) {
		ret = implicit_seen_set(f);
		if (ret < 0) {
			imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
			return 1;
		}
		if (ret > 0) {
			if (conn_run_async(s->conn, seen_work, seen_done, f) > 0)
				return 0;
			seen_work(f);
			seen_apply(f);
		}
	}
	return fetch_continue(cmd);
oom:
	imap_cmd_no(cmd, "[SERVERBUG] Out of memory");
	fetch_free(f);
	return 1;
}
