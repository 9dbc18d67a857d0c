#!/bin/bash
# Installs the real SMTP peers the interoperability tests talk to, from Debian's
# packages: swaks and msmtp (clients), Postfix's smtp-sink/smtp-source (load tools),
# dnsmasq (DNS server), Python's aiosmtpd (receiving server). Needs root; does
# nothing when everything is already there. Tests that need a missing peer skip
# and say why, so a machine without root still runs the rest.
set -euo pipefail
need=()
command -v swaks >/dev/null || need+=(swaks)
command -v msmtp >/dev/null || need+=(msmtp)
command -v smtp-sink >/dev/null || need+=(postfix)
command -v dnsmasq >/dev/null || need+=(dnsmasq-base)
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "install-test-peers: not root; missing ${need[*]} (the tests that need them will skip)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${need[@]}" libio-socket-ssl-perl libnet-ssleay-perl libauthen-sasl-perl >/dev/null
echo "install-test-peers: installed ${need[*]}"
