/* imap.h - the IMAP protocol module (RFC 9051 IMAP4rev2 and RFC 3501
 * IMAP4rev1) for the network layer. */
#ifndef ROOST_IMAP_H
#define ROOST_IMAP_H

#include "net/conn.h"

extern const struct proto_ops imap_proto_ops;

#endif
