/* web-autoconfig.h - what mail clients are told about the servers: the
 * settings page's "server settings" box, Thunderbird autoconfig, Outlook
 * autodiscover (POX) and the Apple configuration profile. Everything comes
 * from the configured listeners, `hostname` and [web] submission_*.
 *
 * The documents are built into a struct buf; every value from the request
 * or the config is XML-escaped. Pure: no I/O, no globals.
 * Return convention: -1 error (buffer full), 1 done. */
#ifndef ROOST_WEB_AUTOCONFIG_H
#define ROOST_WEB_AUTOCONFIG_H

#include <stdbool.h>

#include "lib/buf.h"
#include "lib/config.h"

struct web_servers {
	const char *host;    /* the config's hostname */
	unsigned imaps_port; /* implicit TLS; 0: no such listener */
	unsigned imap_port;  /* STARTTLS when `starttls`, else plain */
	unsigned pop3s_port;
	unsigned pop3_port;
	bool starttls;         /* a certificate is configured */
	const char *smtp_host; /* submission; NULL when smtp_port is 0 */
	unsigned smtp_port;    /* 465: implicit TLS; other: STARTTLS; 0: none */
};

/* When several listeners serve one protocol, the conventional port (993,
 * 143, 995, 110) is announced if one of them has it, else the first. */
void web_servers_from_config(const struct config *c, struct web_servers *s_r);

/* Thunderbird's config-v1.1.xml for an address in `domain`. */
int web_autoconfig_xml(struct buf *b, const struct web_servers *s, const char *domain,
                       const char *title);

/* The Outlook autodiscover POX answer ("responseschema/2006a") for an
 * address. */
int web_autodiscover_xml(struct buf *b, const struct web_servers *s, const char *address);
/* The POX error answer (e.g. for an unknown domain or a malformed
 * request): ErrorCode 600 "Invalid Request" / 603 */
int web_autodiscover_error_xml(struct buf *b, const char *code, const char *message);

/* An unsigned .mobileconfig (a plist) with one com.apple.mail.managed
 * payload for the address: IMAP when served, else POP3. The two UUIDs
 * (36 characters) name the profile and its payload. */
int web_mobileconfig(struct buf *b, const struct web_servers *s, const char *address,
                     const char *title, const char *profile_uuid, const char *payload_uuid);

/* A random (version 4) UUID, 37 bytes with the NUL. 1 or -1. */
int web_uuid(char *out);

#endif
