/* lmtp.h - the LMTP protocol module (RFC 2033, with RFC 5321, 1870, 2920,
 * 2034, 6152, 3030, 3207).
 *
 * roostd attaches lmtp_proto_ops to its lmtp listeners (TCP, e.g.
 * 127.0.0.1:24, or a UNIX socket); the network layer does the rest. An MTA
 * hands over a message with LHLO, MAIL, RCPT..., DATA and gets one reply
 * per accepted recipient after the message, each sent only once that
 * recipient's copy is durable in its store. See docs/delivery.md for the
 * replies, the limits and the MTA configuration.
 *
 * Everything else in src/lmtp/ is private to the module, except
 * lmtp-deliver.h, which `roost deliver` shares. */
#ifndef ROOST_LMTP_H
#define ROOST_LMTP_H

#include "net/conn.h"

extern const struct proto_ops lmtp_proto_ops;

#endif
