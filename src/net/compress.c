/* compress.c - RFC 4978 COMPRESS=DEFLATE as a bufferevent filter.
 *
 * Raw DEFLATE (no zlib header: windowBits -15) in both directions. The
 * output side compresses with Z_NO_FLUSH as the protocol writes, and
 * net_compress_flush() ends each batch of responses with Z_SYNC_FLUSH, so
 * a response is never held back inside zlib while the client waits for it
 * (RFC 4978 4: "the server MUST flush ... after each response"), yet a
 * FETCH of many messages still compresses as one stream.
 *
 * The input side stops inflating once the protocol's input buffer reaches
 * its limit, so a small "zip bomb" cannot expand into unbounded memory. */
#include "net/net-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <zlib.h>

#define ZCHUNK 4096

struct zctx {
	z_stream in;  /* inflate */
	z_stream out; /* deflate */
};

static void zctx_free(void *arg)
{
	struct zctx *z = arg;
	inflateEnd(&z->in);
	deflateEnd(&z->out);
	free(z);
}

static enum bufferevent_filter_result zinput(struct evbuffer *src, struct evbuffer *dst,
					     ev_ssize_t limit, enum bufferevent_flush_mode mode,
					     void *arg)
{
	struct zctx *z = arg;
	size_t produced = 0;
	while (evbuffer_get_length(src) > 0 && (limit < 0 || produced < (size_t)limit)) {
		struct evbuffer_iovec in_vec;
		if (evbuffer_peek(src, -1, NULL, &in_vec, 1) < 1)
			break;
		struct evbuffer_iovec out_vec;
		if (evbuffer_reserve_space(dst, ZCHUNK, &out_vec, 1) < 1)
			return BEV_ERROR;
		z->in.next_in = in_vec.iov_base;
		z->in.avail_in = (uInt)in_vec.iov_len;
		z->in.next_out = out_vec.iov_base;
		z->in.avail_out = (uInt)out_vec.iov_len;
		int r = inflate(&z->in, Z_SYNC_FLUSH);
		if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END)
			return BEV_ERROR;
		size_t used = in_vec.iov_len - z->in.avail_in;
		size_t made = out_vec.iov_len - z->in.avail_out;
		out_vec.iov_len = made;
		evbuffer_commit_space(dst, &out_vec, 1);
		evbuffer_drain(src, used);
		produced += made;
		if (used == 0 && made == 0)
			break;
	}
	return BEV_OK;
}

static int zdeflate_into(struct zctx *z, struct evbuffer *dst, int flush)
{
	do {
		struct evbuffer_iovec out_vec;
		if (evbuffer_reserve_space(dst, ZCHUNK, &out_vec, 1) < 1)
			return -1;
		z->out.next_out = out_vec.iov_base;
		z->out.avail_out = (uInt)out_vec.iov_len;
		int r = deflate(&z->out, flush);
		if (r != Z_OK && r != Z_BUF_ERROR)
			return -1;
		out_vec.iov_len = out_vec.iov_len - z->out.avail_out;
		evbuffer_commit_space(dst, &out_vec, 1);
	} while (z->out.avail_out == 0);
	return 1;
}

static enum bufferevent_filter_result zoutput(struct evbuffer *src, struct evbuffer *dst,
					      ev_ssize_t limit, enum bufferevent_flush_mode mode,
					      void *arg)
{
	struct zctx *z = arg;
	while (evbuffer_get_length(src) > 0) {
		struct evbuffer_iovec in_vec;
		if (evbuffer_peek(src, -1, NULL, &in_vec, 1) < 1)
			break;
		z->out.next_in = in_vec.iov_base;
		z->out.avail_in = (uInt)in_vec.iov_len;
		if (zdeflate_into(z, dst, Z_NO_FLUSH) < 0)
			return BEV_ERROR;
		evbuffer_drain(src, in_vec.iov_len - z->out.avail_in);
	}
	if (mode != BEV_NORMAL) {
		z->out.next_in = NULL;
		z->out.avail_in = 0;
		if (zdeflate_into(z, dst, Z_SYNC_FLUSH) < 0)
			return BEV_ERROR;
	}
	return BEV_OK;
}

struct bufferevent *net_compress_push(struct bufferevent *bev, char *err, size_t errcap)
{
	struct zctx *z = calloc(1, sizeof(*z));
	if (z == NULL) {
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	if (inflateInit2(&z->in, -15) != Z_OK) {
		free(z);
		snprintf(err, errcap, "inflateInit2 failed");
		return NULL;
	}
	if (deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK) {
		inflateEnd(&z->in);
		free(z);
		snprintf(err, errcap, "deflateInit2 failed");
		return NULL;
	}
	struct bufferevent *top = bufferevent_filter_new(bev, zinput, zoutput,
							 BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS,
							 zctx_free, z);
	if (top == NULL) {
		zctx_free(z);
		snprintf(err, errcap, "out of memory");
		return NULL;
	}
	return top;
}

void net_compress_flush(struct bufferevent *top)
{
	bufferevent_flush(top, EV_WRITE, BEV_FLUSH);
}
