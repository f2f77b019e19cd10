/* web-autoconfig.c - client configuration documents (see web-autoconfig.h).
 *
 * Authentication is announced as a plain password over TLS everywhere
 * (Thunderbird "password-cleartext", Outlook SPA off, Apple
 * EmailAuthPassword): Roost also speaks SCRAM-SHA-256, but none of these
 * formats can say so, and the clients pick it from the capabilities. */
#include "web-autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "web-sessions.h"
#include "web-util.h"

#define WEB_IDENT_MAX 320

/* The port to announce for one listener protocol. */
static unsigned pick_port(const struct config *c, enum listener_proto proto, unsigned usual)
{
	unsigned first = 0;
	for (unsigned i = 0; i < c->n_listeners; i++) {
		const struct listener_config *l = &c->listeners[i];
		if (l->proto != proto || l->port == 0)
			continue;
		if (l->port == usual)
			return usual;
		if (first == 0)
			first = l->port;
	}
	return first;
}

void web_servers_from_config(const struct config *c, struct web_servers *s)
{
	memset(s, 0, sizeof(*s));
	s->host = c->hostname;
	s->imaps_port = pick_port(c, LISTENER_IMAPS, 993);
	s->imap_port = pick_port(c, LISTENER_IMAP, 143);
	s->pop3s_port = pick_port(c, LISTENER_POP3S, 995);
	s->pop3_port = pick_port(c, LISTENER_POP3, 110);
	s->starttls = c->tls_cert && c->tls_cert[0] != '\0';
	s->smtp_port = c->web_submission_port;
	if (s->smtp_port)
		s->smtp_host = c->web_submission_host && c->web_submission_host[0]
		                   ? c->web_submission_host
		                   : c->hostname;
}

/* Appends "<tag>escaped</tag>". */
static int elem(struct buf *b, const char *indent, const char *tag, const char *value)
{
	if (buf_printf(b, "%s<%s>", indent, tag) < 0 || web_escape_cstr(b, value) < 0 ||
	    buf_printf(b, "</%s>\n", tag) < 0)
		return -1;
	return 1;
}

/* ------------------------------------------------------ Thunderbird */

static int tb_server(struct buf *b, const char *kind, const char *type, const char *host,
                     unsigned port, const char *socket_type)
{
	char p[16];
	snprintf(p, sizeof(p), "%u", port);
	if (buf_printf(b, "    <%s type=\"%s\">\n", kind, type) < 0 ||
	    elem(b, "      ", "hostname", host) < 0 || elem(b, "      ", "port", p) < 0 ||
	    elem(b, "      ", "socketType", socket_type) < 0 ||
	    elem(b, "      ", "authentication", "password-cleartext") < 0 ||
	    elem(b, "      ", "username", "%EMAILADDRESS%") < 0 ||
	    buf_printf(b, "    </%s>\n", kind) < 0)
		return -1;
	return 1;
}

int web_autoconfig_xml(struct buf *b, const struct web_servers *s, const char *domain,
                       const char *title)
{
	const char *plain_type = s->starttls ? "STARTTLS" : "plain";
	if (buf_append_cstr(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                       "<clientConfig version=\"1.1\">\n  <emailProvider id=\"") < 0 ||
	    web_escape_cstr(b, domain) < 0 || buf_append_cstr(b, "\">\n") < 0 ||
	    elem(b, "    ", "domain", domain) < 0 || elem(b, "    ", "displayName", title) < 0 ||
	    elem(b, "    ", "displayShortName", title) < 0)
		return -1;
	/* Preferred first: clients take the first server they can use. */
	if (s->imaps_port &&
	    tb_server(b, "incomingServer", "imap", s->host, s->imaps_port, "SSL") < 0)
		return -1;
	if (s->imap_port &&
	    tb_server(b, "incomingServer", "imap", s->host, s->imap_port, plain_type) < 0)
		return -1;
	if (s->pop3s_port &&
	    tb_server(b, "incomingServer", "pop3", s->host, s->pop3s_port, "SSL") < 0)
		return -1;
	if (s->pop3_port &&
	    tb_server(b, "incomingServer", "pop3", s->host, s->pop3_port, plain_type) < 0)
		return -1;
	if (s->smtp_port && tb_server(b, "outgoingServer", "smtp", s->smtp_host, s->smtp_port,
	                              s->smtp_port == 465 ? "SSL" : "STARTTLS") < 0)
		return -1;
	return buf_append_cstr(b, "  </emailProvider>\n</clientConfig>\n");
}

/* ------------------------------------------------------ Outlook */

static int ad_protocol(struct buf *b, const char *type, const char *host, unsigned port,
                       const char *encryption, const char *address)
{
	char p[16];
	snprintf(p, sizeof(p), "%u", port);
	bool tls = strcmp(encryption, "None") != 0;
	if (buf_append_cstr(b, "      <Protocol>\n") < 0 || elem(b, "        ", "Type", type) < 0 ||
	    elem(b, "        ", "Server", host) < 0 || elem(b, "        ", "Port", p) < 0 ||
	    elem(b, "        ", "DomainRequired", "off") < 0 ||
	    elem(b, "        ", "LoginName", address) < 0 ||
	    elem(b, "        ", "SPA", "off") < 0 ||
	    elem(b, "        ", "SSL", tls ? "on" : "off") < 0 ||
	    elem(b, "        ", "Encryption", encryption) < 0 ||
	    elem(b, "        ", "AuthRequired", "on") < 0 ||
	    buf_append_cstr(b, "      </Protocol>\n") < 0)
		return -1;
	return 1;
}

int web_autodiscover_xml(struct buf *b, const struct web_servers *s, const char *address)
{
	const char *plain = s->starttls ? "TLS" : "None";
	if (buf_append_cstr(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	                       "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/"
	                       "autodiscover/responseschema/2006\">\n"
	                       "  <Response xmlns=\"http://schemas.microsoft.com/exchange/"
	                       "autodiscover/outlook/responseschema/2006a\">\n"
	                       "    <Account>\n"
	                       "      <AccountType>email</AccountType>\n"
	                       "      <Action>settings</Action>\n") < 0)
		return -1;
	if (s->imaps_port && ad_protocol(b, "IMAP", s->host, s->imaps_port, "SSL", address) < 0)
		return -1;
	else if (!s->imaps_port && s->imap_port &&
	         ad_protocol(b, "IMAP", s->host, s->imap_port, plain, address) < 0)
		return -1;
	if (s->pop3s_port && ad_protocol(b, "POP3", s->host, s->pop3s_port, "SSL", address) < 0)
		return -1;
	else if (!s->pop3s_port && s->pop3_port &&
	         ad_protocol(b, "POP3", s->host, s->pop3_port, plain, address) < 0)
		return -1;
	if (s->smtp_port && ad_protocol(b, "SMTP", s->smtp_host, s->smtp_port,
	                                s->smtp_port == 465 ? "SSL" : "TLS", address) < 0)
		return -1;
	return buf_append_cstr(b, "    </Account>\n  </Response>\n</Autodiscover>\n");
}

int web_autodiscover_error_xml(struct buf *b, const char *code, const char *message)
{
	if (buf_append_cstr(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
	                       "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/"
	                       "autodiscover/responseschema/2006\">\n"
	                       "  <Response>\n    <Error>\n") < 0 ||
	    elem(b, "      ", "ErrorCode", code) < 0 || elem(b, "      ", "Message", message) < 0 ||
	    buf_append_cstr(b, "      <DebugData />\n    </Error>\n  </Response>\n"
	                       "</Autodiscover>\n") < 0)
		return -1;
	return 1;
}

/* ------------------------------------------------------ Apple */

static int pl_str(struct buf *b, const char *key, const char *value)
{
	if (buf_append_cstr(b, "\t\t\t<key>") < 0 || web_escape_cstr(b, key) < 0 ||
	    buf_append_cstr(b, "</key>\n\t\t\t<string>") < 0 || web_escape_cstr(b, value) < 0 ||
	    buf_append_cstr(b, "</string>\n") < 0)
		return -1;
	return 1;
}

static int pl_int(struct buf *b, const char *key, unsigned value)
{
	return buf_printf(b, "\t\t\t<key>%s</key>\n\t\t\t<integer>%u</integer>\n", key, value);
}

static int pl_bool(struct buf *b, const char *key, bool value)
{
	return buf_printf(b, "\t\t\t<key>%s</key>\n\t\t\t<%s/>\n", key, value ? "true" : "false");
}

int web_mobileconfig(struct buf *b, const struct web_servers *s, const char *address,
                     const char *title, const char *profile_uuid, const char *payload_uuid)
{
	bool imap = s->imaps_port || s->imap_port;
	unsigned in_port = imap ? (s->imaps_port ? s->imaps_port : s->imap_port)
	                        : (s->pop3s_port ? s->pop3s_port : s->pop3_port);
	/* Apple's UseSSL means implicit TLS or STARTTLS as the port needs:
	 * a plain port with a certificate configured offers STARTTLS. */
	bool in_ssl =
	    imap ? (s->imaps_port != 0 || s->starttls) : (s->pop3s_port != 0 || s->starttls);
	char ident[WEB_IDENT_MAX];
	snprintf(ident, sizeof(ident), "org.roost.mail.%s", s->host);

	if (buf_append_cstr(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                       "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
	                       "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	                       "<plist version=\"1.0\">\n<dict>\n\t<key>PayloadContent</key>\n"
	                       "\t<array>\n\t\t<dict>\n") < 0)
		return -1;
	if (pl_str(b, "EmailAccountDescription", address) < 0 ||
	    pl_str(b, "EmailAccountType", imap ? "EmailTypeIMAP" : "EmailTypePOP") < 0 ||
	    pl_str(b, "EmailAddress", address) < 0 ||
	    pl_str(b, "IncomingMailServerAuthentication", "EmailAuthPassword") < 0 ||
	    pl_str(b, "IncomingMailServerHostName", s->host) < 0 ||
	    pl_int(b, "IncomingMailServerPortNumber", in_port) < 0 ||
	    pl_bool(b, "IncomingMailServerUseSSL", in_ssl) < 0 ||
	    pl_str(b, "IncomingMailServerUsername", address) < 0)
		return -1;
	if (s->smtp_port &&
	    (pl_str(b, "OutgoingMailServerAuthentication", "EmailAuthPassword") < 0 ||
	     pl_str(b, "OutgoingMailServerHostName", s->smtp_host) < 0 ||
	     pl_int(b, "OutgoingMailServerPortNumber", s->smtp_port) < 0 ||
	     pl_bool(b, "OutgoingMailServerUseSSL", true) < 0 ||
	     pl_str(b, "OutgoingMailServerUsername", address) < 0 ||
	     pl_bool(b, "OutgoingPasswordSameAsIncomingPassword", true) < 0))
		return -1;
	char payload_id[WEB_IDENT_MAX + 16];
	snprintf(payload_id, sizeof(payload_id), "%s.account", ident);
	if (pl_str(b, "PayloadDescription", title) < 0 ||
	    pl_str(b, "PayloadDisplayName", address) < 0 ||
	    pl_str(b, "PayloadIdentifier", payload_id) < 0 ||
	    pl_str(b, "PayloadType", "com.apple.mail.managed") < 0 ||
	    pl_str(b, "PayloadUUID", payload_uuid) < 0 || pl_int(b, "PayloadVersion", 1) < 0 ||
	    buf_append_cstr(b, "\t\t</dict>\n\t</array>\n") < 0)
		return -1;
	/* The profile's own keys, one tab less deep. */
	if (buf_append_cstr(b, "\t<key>PayloadDisplayName</key>\n\t<string>") < 0 ||
	    web_escape_cstr(b, title) < 0 ||
	    buf_append_cstr(b, "</string>\n\t<key>PayloadIdentifier</key>\n\t<string>") < 0 ||
	    web_escape_cstr(b, ident) < 0 ||
	    buf_append_cstr(b, "</string>\n\t<key>PayloadRemovalDisallowed</key>\n\t<false/>\n"
	                       "\t<key>PayloadType</key>\n\t<string>Configuration</string>\n"
	                       "\t<key>PayloadUUID</key>\n\t<string>") < 0 ||
	    web_escape_cstr(b, profile_uuid) < 0 ||
	    buf_append_cstr(b, "</string>\n\t<key>PayloadVersion</key>\n\t<integer>1</integer>\n"
	                       "</dict>\n</plist>\n") < 0)
		return -1;
	return 1;
}

int web_uuid(char *out)
{
	unsigned char r[16];
	char hex[33];
	if (web_random(r, sizeof(r)) < 0)
		return -1;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	web_hex(r, 16, hex);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
	for (char *p = out; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	return 1;
}
