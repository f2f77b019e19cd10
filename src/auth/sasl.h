/* sasl.h - protocol-independent SASL server mechanisms.
 *
 * A mechanism is a step machine. The protocol owns the wire (IMAP
 * AUTHENTICATE with SASL-IR, RFC 4959; POP3 AUTH, RFC 5034): it base64-
 * decodes each client line (sasl_base64_decode, strict), passes the bytes
 * to sasl_step(), and base64-encodes the challenge it gets back. Client
 * cancellation ("*") is the protocol's business: just free the session.
 *
 * Mechanisms:
 *   PLAIN         RFC 4616. authzid must be empty or equal to authcid
 *                 (no proxy authorisation): anything else fails.
 *   LOGIN         the de-facto exchange: challenge "Username:", then
 *                 "Password:" (an initial response is taken as the user name).
 *   SCRAM-SHA-256 RFC 5802 / RFC 7677 without channel binding: gs2 flags
 *                 'n' and 'y' are accepted, 'p' is refused. Works with the
 *                 account password and with app passwords (all of an
 *                 account's credentials share one salt; see auth.c).
 * PLAIN and LOGIN check the password through auth_verify_password, so
 * switches, app-password rules, abuse counting and logging are the same
 * for every way of logging in. Offer PLAIN and LOGIN only when
 * auth_plaintext_allowed() is true.
 *
 * Threading: sasl_step() is BLOCKING (database, password hashing): call it
 * from the cpu thread pool (conn_run_async_cpu). A session is used by one thread at
 * a time; it may move between threads between steps.
 *
 * Memory: a session is about 1.7 KiB (it owns its challenge buffer and
 * result); SCRAM adds about 3 KiB while the exchange runs. Free it as soon
 * as the exchange is over. */
#ifndef ROOST_AUTH_SASL_H
#define ROOST_AUTH_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"
#include "lib/str.h"

struct sasl_session;

enum sasl_step_status {
	/* Send the challenge (*challenge_r, possibly empty) and wait for the
	 * client's next response. */
	SASL_STEP_CHALLENGE,
	/* The exchange is over: sasl_result() tells the outcome (AUTH_OK or
	 * a failure code with its message and delay_ms). */
	SASL_STEP_DONE,
	/* The client broke the mechanism's syntax (bad encoding, missing
	 * fields, unsupported channel binding). Reply with a failure using
	 * sasl_error_message() (IMAP: "NO" or "BAD"; POP3 "-ERR") and free
	 * the session. Counts as an authentication failure. */
	SASL_STEP_ERROR,
};

/* Is `name` (any case) a mechanism we implement? */
bool sasl_mech_supported(const char *name);
/* Space-separated mechanism names to advertise: "SCRAM-SHA-256 PLAIN LOGIN"
 * when plaintext is allowed, else "SCRAM-SHA-256". Static string. */
const char *sasl_mech_list(bool plaintext_allowed);
/* Is `name` a plaintext mechanism (PLAIN, LOGIN)? */
bool sasl_mech_is_plaintext(const char *name);

/* Start an exchange for mechanism `name` (case-insensitive). The client
 * struct is copied (remote_ip too). NULL for an unknown mechanism or out of
 * memory. */
struct sasl_session *sasl_session_new(const char *name, const struct auth_client *client);
void sasl_session_free(struct sasl_session **s);

/* Feed the client's next decoded response. `response` NULL means "no
 * initial response" (only valid for the first step; the mechanism then
 * sends its first challenge, e.g. empty for PLAIN). An empty SASL-IR
 * ("=" in IMAP) is a non-NULL response of length 0. On CHALLENGE,
 * *challenge_r points into the session (valid until the next step or free).
 * BLOCKING. */
enum sasl_step_status sasl_step(struct sasl_session *s, const struct str *response,
                                struct str *challenge_r);

/* After SASL_STEP_DONE: the login result (as from auth_verify_password).
 * After SASL_STEP_ERROR it holds AUTH_FAILED with the delay_ms to apply
 * before the error reply (malformed exchanges are counted as failures). */
const struct auth_result *sasl_result(const struct sasl_session *s);
/* After SASL_STEP_ERROR: a human sentence, e.g. "invalid PLAIN response". */
const char *sasl_error_message(const struct sasl_session *s);
/* The mechanism's canonical name ("PLAIN"). */
const char *sasl_mech_name(const struct sasl_session *s);

/* ------------------------------------------------------------------ */
/* Base64 (RFC 4648 section 4, the standard alphabet, with padding) */

/* Bytes needed to encode len bytes, including the NUL. */
size_t sasl_base64_encoded_len(size_t len);
/* Encodes into out (cap >= sasl_base64_encoded_len(len)); NUL-terminated.
 * Returns the length written (without NUL), or -1 if out is too small. */
long sasl_base64_encode(const void *data, size_t len, char *out, size_t cap);
/* Strict decoding: only alphabet characters, correct '=' padding, length
 * a multiple of 4, no whitespace, unused bits zero. Returns the decoded
 * length, or -1 on malformed input or if out (cap) is too small (cap of
 * len/4*3 always suffices). */
long sasl_base64_decode(struct str in, void *out, size_t cap);

#endif
