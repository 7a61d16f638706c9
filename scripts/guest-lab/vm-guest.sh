# The default guest of the libvirt lab (LibvirtLab.swift): /lab/run.sh of a kernel-lab image booted by
# libvirt on a tap. It brings up eth0 (virtio), sends its first packets, then answers TCP until the
# domain is destroyed. Everything it says goes to the serial console, as marker lines:
#   === GUEST NET <ifname> <mac> <address> ===
#   === GUEST FIRST <probe> rc=<status> ===      one per first packet, in order
#   === GUEST SERVING port=<port> ===            the TCP listener is up
#
# Settings come from the kernel command line (or /lab/guest.conf, same words, one per line):
#   sdn.ip=ADDRESS/LENGTH   eth0's address (required)
#   sdn.gw=ADDRESS          default route
#   sdn.first=PROBE,…       first packets, each ping:ADDRESS, tcp:ADDRESS:PORT, udp:ADDRESS:PORT or
#                           pingfrom:SOURCE:ADDRESS (a ping from SOURCE, an address the guest adds to
#                           eth0 for it: a forged source, as far as its declared addresses go)
#   sdn.port=PORT           the TCP port it serves (default 7000); each connection reads
#                           "hello from <address>" and the connection's number
#   sdn.ipv6=off            no IPv6 on eth0: the probes are the only IP packets it sends before
#                           serving (no MLD reports or DAD), so a test can count them exactly
exec >/dev/console 2>&1

setting() {
  for word in $(cat /proc/cmdline /lab/guest.conf 2>/dev/null); do
    case $word in "sdn.$1="*) echo "${word#sdn.$1=}"; return ;; esac
  done
}
address=$(setting ip) gateway=$(setting gw) first=$(setting first) port=$(setting port) ipv6=$(setting ipv6)
port=${port:-7000}

# One by one, dependencies first: busybox modprobe inserts a module's modules.dep list from its end,
# and build.sh's list does not put virtio after virtio_ring.
for module in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  modprobe "$module" || echo "guest: modprobe $module failed"
done
for _ in $(seq 50); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
[ "$ipv6" = off ] && echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6
ip link set eth0 up
[ -n "$address" ] && ip address add "$address" dev eth0
[ -n "$gateway" ] && ip route add default via "$gateway"
echo "=== GUEST NET eth0 $(cat /sys/class/net/eth0/address 2>/dev/null) ${address:-none} ==="

for probe in $(echo "$first" | tr ',' ' '); do
  kind=${probe%%:*} target=${probe#*:}
  case $kind in
    ping) ping -c 1 -W 1 "$target" >/dev/null 2>&1 ;;
    pingfrom) ip address add "${target%%:*}/32" dev eth0 && ping -c 1 -W 1 -I "${target%%:*}" "${target#*:}" >/dev/null 2>&1 ;;
    tcp) echo first | nc -w 1 "${target%:*}" "${target##*:}" >/dev/null 2>&1 ;;
    udp) echo first | nc -u -w 1 "${target%:*}" "${target##*:}" >/dev/null 2>&1 ;;
    *) false ;;
  esac
  echo "=== GUEST FIRST $probe rc=$? ==="
done

cat >/lab/reply.sh <<REPLY
#!/bin/sh
count=\$(cat /tmp/connections 2>/dev/null || echo 0)
count=\$((count + 1))
echo \$count >/tmp/connections
echo "hello from ${address%/*} \$count"
REPLY
chmod +x /lab/reply.sh
echo "=== GUEST SERVING port=$port ==="
while true; do nc -ll -p "$port" -e /lab/reply.sh; sleep 0.1; done
