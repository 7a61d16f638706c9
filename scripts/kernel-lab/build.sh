#!/usr/bin/env bash
# Builds the kernel lab: Debian's stock 6.1 kernel (downloaded, never installed) and a busybox
# initramfs with the network modules this sandbox's own kernel lacks (bond, 802.1Q, VLAN-filtering
# bridge, VRF, …), the real iproute2 `ip` and `bridge`, and /init (scripts/kernel-lab/init).
# QEMU boots it under TCG; KernelLab.swift (Sources/SDNTesting) appends a second, per-run cpio
# archive with the test script, binaries and fixtures.
#
#   scripts/kernel-lab/build.sh
#       Makes sure the cached kernel and base initramfs are current, then prints
#       `kernel=PATH`, `initrd=PATH`, `release=…` and `package=…` lines on stdout.
#   scripts/kernel-lab/build.sh --image OUT --script FILE [--binary PATH]… [--file GUEST=HOST]…
#       Also writes OUT: the base initramfs followed by a layer with FILE as /lab/run.sh, each
#       binary in /usr/local/bin with the shared libraries it links, and each file at its guest path.
#       (scripts/kernel-lab/run.sh boots such an image.)
#
# Idempotent: everything is cached under $SDN_KERNEL_LAB_CACHE (default .build/kernel-lab) and
# rebuilt only when the package, this script, /init or the host's busybox/ip/bridge change. Without
# network it reuses the last build. Exits 2 when the lab cannot be built, with the reason on stderr.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/scripts/kernel-lab"
cache=${SDN_KERNEL_LAB_CACHE:-$root/.build/kernel-lab}

# Modules inserted at boot, with their parameters; dependencies are added from each module's
# `depends=` field. bonding and dummy would otherwise create bond0 and dummy0 on load.
modules=(
  "bonding max_bonds=0"
  "dummy numdummies=0"
  8021q bridge veth macvlan macvtap ipvlan tun vxlan geneve vrf
)
# In the image (with their dependencies, in modules.dep) but inserted only by the tests that need
# them, with `modprobe NAME`: the firewall of both layouts, bridge conntrack, reject and meta
# included. Inserting them at every boot would slow down every other lab test under TCG.
# crc32c_generic first: libcrc32c (nf_tables, nf_conntrack) asks the crypto API for crc32c when it
# loads, a soft dependency that modules.dep does not carry.
on_demand_modules=(
  crc32c_generic nfnetlink nf_tables nf_conntrack nf_conntrack_bridge br_netfilter nf_nat nf_log_syslog
  nft_ct nft_reject nft_reject_inet nft_reject_ipv4 nft_reject_ipv6 nft_reject_bridge nft_meta_bridge
  nft_nat nft_masq nft_chain_nat nft_limit nft_log nft_quota nft_numgen nft_hash nft_objref
  nft_fib nft_fib_inet nft_fib_ipv4 nft_fib_ipv6
  # A virtio NIC, for guests booted by libvirt on a tap (scripts/guest-lab, LibvirtLab.swift):
  # `modprobe virtio_pci; modprobe virtio_net` brings up eth0. Lab boots have no NIC and skip them.
  virtio_pci virtio_net
)

image="" script=""
binaries=() files=()
while (($#)); do
  case $1 in
    --image) image=$2; shift 2 ;;
    --script) script=$2; shift 2 ;;
    --binary) binaries+=("$2"); shift 2 ;;
    --file) files+=("$2"); shift 2 ;;
    -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 64 ;;
  esac
done
if [[ -n $image && -z $script ]]; then echo "build.sh: --image needs --script" >&2; exit 64; fi

fail() { echo "kernel-lab: $*" >&2; exit 2; }
note() { echo "kernel-lab: $*" >&2; }

for tool in busybox ip bridge dash env timeout xargs cpio dpkg-deb apt-cache apt-get ldd flock; do
  command -v "$tool" >/dev/null || fail "\`$tool\` not found (scripts/setup.sh installs the lab's packages)"
done

mkdir -p "$cache"
temporary=()
trap 'rm -rf "${temporary[@]}"' EXIT
exec 9>"$cache/lock"
flock 9  # one build at a time: test processes may ask concurrently
rm -rf "$cache"/work.* "$cache"/layer.*  # left by a killed run

# The newest linux-image-6.1.0-N-amd64, preferring the -unsigned package (same kernel, modules not
# signed); SDN_KERNEL_LAB_PACKAGE overrides.
resolve_package() {
  apt-cache pkgnames linux-image-6.1.0- 2>/dev/null \
    | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64(-unsigned)?$' \
    | awk -F- '{ print $4, ($NF == "unsigned"), $0 }' \
    | sort -k1,1n -k2,2n | awk 'END { print $3 }'
}

current="$cache/current"
package=${SDN_KERNEL_LAB_PACKAGE:-}
# The package lists have not changed since the last build: the newest kernel is still the one it
# used (apt-cache takes most of a second, and test discovery runs this script every time).
if [[ -z $package && -f $current && $current -nt /var/lib/apt/lists ]]; then
  package=$(sed -n 's/^package=//p' "$current")
fi
if [[ -z $package ]]; then
  package=$(resolve_package)
  if [[ -z $package && $(id -u) -eq 0 ]]; then
    note "no linux-image-6.1.0-*-amd64 in the package lists; running apt-get update"
    apt-get update -qq >/dev/null 2>&1 || true
    package=$(resolve_package)
  fi
fi

print_current() {
  grep -E '^(kernel|initrd|release|package)=' "$current"
}
use_previous_or_fail() {
  if [[ -f $current ]] && [[ -f $(sed -n 's/^initrd=//p' "$current") ]]; then
    note "$1; using the previous build ($(sed -n 's/^package=//p' "$current"))"
    return 0
  fi
  fail "$1"
}

build_base() {
  debs="$cache/debs"
  mkdir -p "$debs"
  deb=$(ls "$debs/${package}_"*.deb 2>/dev/null | tail -1 || true)
  if [[ -z $deb ]]; then
    note "downloading $package"
    # apt-get download writes to the working directory.
    if ! (cd "$debs" && apt-get download -q "$package" >/dev/null 2>"$debs/download.log"); then
      use_previous_or_fail "apt-get download $package failed: $(grep -v '^W:' "$debs/download.log" | tail -2 | tr '\n' ' ')"
      return 0
    fi
    deb=$(ls "$debs/${package}_"*.deb | tail -1)
    find "$debs" -name '*.deb' ! -path "$deb" -delete  # keep one kernel package only
  fi

  work=$(mktemp -d "$cache/work.XXXXXX")
  temporary+=("$work")
  note "unpacking $(basename "$deb")"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards './boot/vmlinuz-*' './lib/modules/*'
  vmlinuz=$(ls "$work"/boot/vmlinuz-*)
  release=${vmlinuz##*/vmlinuz-}
  moddir="$work/lib/modules/$release"
  [[ -d $moddir ]] || fail "$deb has no /lib/modules/$release"

  # Module name (dashes as underscores) → path relative to the release directory.
  declare -A path_of=() depends_of=() included=()
  while IFS= read -r ko; do
    rel=${ko#"$moddir"/}
    name=${rel##*/}; name=${name%.ko}; name=${name//-/_}
    path_of[$name]=$rel
  done < <(find "$moddir" -name '*.ko')
  ((${#path_of[@]})) || fail "no uncompressed .ko modules in $deb (a compressed-module kernel needs unpacking here)"

  depends() {  # direct dependencies, from the module's .modinfo
    local name=$1
    if [[ -z ${depends_of[$name]+set} ]]; then
      depends_of[$name]=$(tr '\0' '\n' <"$moddir/${path_of[$name]}" | sed -n 's/^depends=//p' | head -1 | tr ',' ' ')
    fi
    echo "${depends_of[$name]}"
  }
  order=()
  visit() {  # depth first: dependencies before the module
    local name=${1//-/_} dep
    [[ -n ${included[$name]+set} ]] && return
    [[ -n ${path_of[$name]+set} ]] || fail "module $name is not in $package"
    included[$name]=1
    for dep in $(depends "$name"); do visit "$dep"; done
    order+=("$name")
  }
  declare -A arguments_of=()
  for entry in "${modules[@]}"; do
    read -r name args <<<"$entry"
    arguments_of[${name//-/_}]=$args
    visit "$name"
  done
  boot_count=${#order[@]}  # the boot modules and their dependencies come first
  for name in "${on_demand_modules[@]}"; do visit "$name"; done

  stage="$work/stage"
  mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,lib,lib64,etc/lab/libdirs.d,proc,sys,dev,run,tmp,root,lab/out}
  mkdir -p "$stage/lib/modules/$release"
  : >"$stage/etc/lab/modules"
  : >"$stage/lib/modules/$release/modules.dep"
  transitive() {  # every dependency, nearest first, each once
    local name=$1 dep
    for dep in $(depends "$name"); do
      echo "$dep"
      transitive "$dep"
    done | awk '!seen[$0]++'
  }
  for index in "${!order[@]}"; do
    name=${order[$index]}
    rel=${path_of[$name]}
    mkdir -p "$stage/lib/modules/$release/$(dirname "$rel")"
    cp "$moddir/$rel" "$stage/lib/modules/$release/$rel"
    if ((index < boot_count)); then echo "$rel ${arguments_of[$name]:-}" >>"$stage/etc/lab/modules"; fi
    # modules.dep lets busybox modprobe load a module by name inside the guest.
    deps=()
    for dep in $(transitive "$name"); do deps+=("${path_of[$dep]}"); done
    echo "$rel: ${deps[*]}" >>"$stage/lib/modules/$release/modules.dep"
  done
  printf '%s\n' "${order[@]}" >"$work/modules.txt"

  cp "$(command -v busybox)" "$stage/bin/busybox"
  # Debian's static busybox runs its own applets before anything in PATH, from its shell and from
  # applets that start programs (env, timeout, xargs): `ip` would be busybox's everywhere. So the
  # shell is the host's dash, and those three come from the host too.
  for applet in $(busybox --list); do
    case $applet in busybox | init | linuxrc | ip | bridge | sh | ash | env | timeout | xargs) continue ;; esac
    ln -s busybox "$stage/bin/$applet"
  done
  copy_with_libraries() {  # binary at its path, and every library it links at the path ldd shows
    local binary=$1 target=$2 library
    mkdir -p "$(dirname "$stage$target")"
    cp -L "$binary" "$stage$target"
    for library in $(ldd "$binary" | grep -oE '(^|\s)/[^ ]+' | tr -d ' \t'); do
      [[ -e $stage$library ]] && continue
      mkdir -p "$(dirname "$stage$library")"
      cp -L "$library" "$stage$library"
    done
  }
  copy_with_libraries "$(command -v ip)" /usr/sbin/ip
  copy_with_libraries "$(command -v bridge)" /usr/sbin/bridge
  copy_with_libraries "$(command -v dash)" /bin/sh
  for tool in env timeout xargs; do copy_with_libraries "$(command -v "$tool")" "/usr/bin/$tool"; done
  echo /lib/x86_64-linux-gnu >"$stage/etc/lab/libdirs.d/base"
  install -m 0755 "$here/init" "$stage/init"
  if [[ $(id -u) -eq 0 ]]; then mknod -m 600 "$stage/dev/console" c 5 1; fi

  out="$cache/$release"
  rm -rf "$out.new"
  mkdir -p "$out.new"
  # Under TCG the bzImage spends ~8 s unpacking itself (xz). QEMU boots the uncompressed ELF
  # kernel directly through its PVH entry point (CONFIG_PVH), so unpack it here once.
  kernel="$out.new/vmlinuz"
  cp "$vmlinuz" "$kernel"
  offset=$(grep -abo $'\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1 || true)
  if [[ -n $offset ]] && command -v xz >/dev/null; then
    # xz stops with "trailing garbage" after the payload: keep what it wrote, check it is an ELF.
    tail -c +$((offset + 1)) "$vmlinuz" | xz -dc >"$out.new/vmlinux" 2>/dev/null || true
    if [[ $(head -c 4 "$out.new/vmlinux") == $'\x7fELF' ]]; then kernel="$out.new/vmlinux"; else rm -f "$out.new/vmlinux"; fi
  fi
  if [[ $kernel == */vmlinux ]]; then rm "$out.new/vmlinuz"; else note "booting the compressed kernel (slower): could not unpack vmlinux from it"; fi
  cp "$work/modules.txt" "$out.new/modules.txt"
  # Uncompressed: the guest copies 8 MB faster than it gunzips 3 MB under TCG.
  (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out.new/base.cpio"
  rm -rf "$out"
  mv "$out.new" "$out"
  for old in "$cache"/*/vmlinu[xz]; do  # builds of older kernels
    if [[ -e $old && $(dirname "$old") != "$out" ]]; then rm -rf "$(dirname "$old")"; fi
  done
  cat >"$current" <<EOF
kernel=$out/${kernel##*/}
initrd=$out/base.cpio
release=$release
package=$package
stamp=$stamp
EOF
  note "built $release: $(wc -l <"$out/modules.txt") modules, base initramfs $(du -h "$out/base.cpio" | cut -f1)"
}

if [[ -z $package ]]; then
  use_previous_or_fail "cannot find a linux-image-6.1.0-*-amd64 package with apt-cache"
else
  stamp=$(
    {
      echo "$package"
      cat "$here/build.sh" "$here/init"
      for tool in busybox ip bridge dash env timeout xargs; do stat -L -c '%n %s %Y' "$(command -v "$tool")"; done
    } | sha256sum | cut -c1-16
  )
  if [[ -f $current ]] && grep -qx "stamp=$stamp" "$current" && [[ -f $(sed -n 's/^initrd=//p' "$current") ]]; then
    touch "$current"  # checked against the package lists just now
  else
    build_base
  fi
fi

if [[ -n $image ]]; then
  layer=$(mktemp -d "$cache/layer.XXXXXX")
  temporary+=("$layer")
  stage="$layer/stage"
  mkdir -p "$stage/lab/out" "$stage/usr/local/bin" "$stage/etc/lab/libdirs.d"
  install -m 0755 "$script" "$stage/lab/run.sh"
  : >"$stage/etc/lab/libdirs.d/image"
  for binary in "${binaries[@]}"; do
    cp -L "$binary" "$stage/usr/local/bin/$(basename "$binary")"
    for library in $(ldd "$binary" | grep -oE '(^|\s)/[^ ]+' | tr -d ' \t'); do
      mkdir -p "$(dirname "$stage$library")"
      cp -L "$library" "$stage$library"
      dirname "$library" >>"$stage/etc/lab/libdirs.d/image"
    done
  done
  sort -u -o "$stage/etc/lab/libdirs.d/image" "$stage/etc/lab/libdirs.d/image"
  for spec in "${files[@]}"; do
    guest=${spec%%=*} host=${spec#*=}
    mkdir -p "$(dirname "$stage/$guest")"
    cp -rL "$host" "$stage/$guest"
  done
  # The kernel unpacks concatenated archives in order, later files replacing earlier ones.
  { cat "$(sed -n 's/^initrd=//p' "$current")"
    (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
  } >"$image"
  echo "image=$image"
fi
print_current
