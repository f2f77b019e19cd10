/* pop3.h - the POP3 protocol module (RFC 1939, 2449, 2595, 5034, 6856).
 *
 * roostd attaches pop3_proto_ops to its pop3 (port 110, STLS) and pop3s
 * (port 995, implicit TLS) listeners; the network layer does the rest.
 * Everything else in src/pop3/ is private to the module. */
#ifndef ROOST_POP3_H
#define ROOST_POP3_H

#include "net/conn.h"

extern const struct proto_ops pop3_proto_ops;

#endif
