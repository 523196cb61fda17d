#!/bin/sh
# A portico dns-01 hook for RFC 2136 dynamic DNS updates with nsupdate (Debian: bind9-dnsutils), which
# BIND, PowerDNS, Knot and most DNS servers accept. The update is signed with a TSIG key.
#
#   [acme]
#   dns_hook = ["/etc/portico/nsupdate.sh", "ns1.example.com", "53", "/etc/portico/tsig.key"]
#
# portico runs it as `nsupdate.sh SERVER PORT KEYFILE add|remove <_acme-challenge.name> <value>` (no
# shell: the arguments arrive exactly as written), waits for the TXT record at the zone's
# authoritative servers, tells the CA, and always runs `remove` afterwards. KEYFILE is a BIND key file:
#
#   key "portico" { algorithm hmac-sha256; secret "<base64 from `tsig-keygen portico`>"; };
#
# and the zone must allow it, e.g. in named.conf:
#
#   zone "example.com" { type primary; file "/var/lib/bind/example.com.zone";
#     update-policy { grant portico name _acme-challenge.example.com. TXT;
#                     grant portico name _acme-challenge.www.example.com. TXT; }; };
#
# For a wildcard (*.example.com) the record is _acme-challenge.example.com. Exit 0 = done; stderr is
# written to portico's log.
set -eu
if [ $# -ne 6 ]; then
  echo "usage: nsupdate.sh SERVER PORT KEYFILE add|remove <_acme-challenge.name> <value>" >&2
  exit 2
fi
server=$1 port=$2 keyfile=$3 action=$4 name=${5%.} value=$6
case "$action" in
  add) update="update add $name. 60 IN TXT \"$value\"" ;;
  remove) update="update delete $name. TXT \"$value\"" ;;
  *) echo "nsupdate.sh: unknown action '$action' (add or remove)" >&2; exit 2 ;;
esac
printf 'server %s %s\n%s\nsend\n' "$server" "$port" "$update" | nsupdate -k "$keyfile" -t 10
