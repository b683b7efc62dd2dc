#!/bin/bash
# Build the static dependency prefix used to link knode fully statically
# with glibc (gcc -static).
#
#   scripts/static-deps.sh [PREFIX]      (default: build/static-deps)
#
# Produces PREFIX/include, PREFIX/lib/{libcurl,libcjson}.a and PREFIX/static.mk
# defining STATIC_CFLAGS and STATIC_LIBS.  libcurl and cJSON are built from
# Debian's source packages (Debian's libcurl.a does not link statically and
# there is no libcjson.a); everything else uses Debian's own .a files.
# libmnl is not here: Debian ships no libmnl.a, knode carries core/mnl/.
#
# Idempotent: does nothing if PREFIX/.done holds this script's hash.
set -euo pipefail

# Every Debian package this script (and the static link) needs.
APT_PACKAGES="build-essential cmake dpkg-dev xz-utils pkgconf libssl-dev libnghttp2-dev zlib1g-dev libyaml-dev libnftnl-dev libprotobuf-c-dev"
if [ "$(dpkg-query -W -f='${Status}\n' $APT_PACKAGES 2>/dev/null | grep -c 'ok installed')" != \
	"$(echo $APT_PACKAGES | wc -w)" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y $APT_PACKAGES
fi

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=${1:-$ROOT/build/static-deps}
mkdir -p "$PREFIX"
PREFIX=$(cd "$PREFIX" && pwd)
HASH=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
SYSLIB=/usr/lib/$MULTIARCH
JOBS=$(nproc 2>/dev/null || echo 2)

log() { echo "static-deps: $*" >&2; }

if [ -f "$PREFIX/.done" ] && [ "$(cat "$PREFIX/.done")" = "$HASH" ] &&
	[ -f "$PREFIX/static.mk" ]; then
	log "up to date in $PREFIX"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive

# --- deb-src entries --------------------------------------------------------
# Mirror every active Debian "Types: deb" stanza as "Types: deb-src" in a
# file of our own, unless some deb-src entry already exists.
SRCLIST=/etc/apt/sources.list.d/knode-deb-src.sources
have_src() {
	grep -rqsE '^[[:space:]]*(deb-src\b|Types:.*\bdeb-src\b)' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources
}
if ! have_src; then
	log "adding deb-src entries in $SRCLIST"
	tmp=$(mktemp)
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# Paragraph mode: one stanza per record, one line per field.
		awk 'BEGIN { RS = ""; FS = "\n" }
		{
			deb = 0; debian = 0
			for (i = 1; i <= NF; i++) {
				if ($i ~ /^Types:/ && $i ~ /[: ]deb( |$)/) deb = 1
				if ($i ~ /^URIs:/ && $i ~ /debian/) debian = 1
			}
			if (!deb || !debian) next
			for (i = 1; i <= NF; i++)
				print ($i ~ /^Types:/) ? "Types: deb-src" : $i
			print ""
		}' "$f" >>"$tmp"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -n 's/^[[:space:]]*deb[[:space:]]\+\(.*debian.*\)$/deb-src \1/p' "$f" >>"$tmp.list"
	done 2>/dev/null
	if [ -s "$tmp" ]; then
		install -m 0644 "$tmp" "$SRCLIST"
	fi
	if [ -s "$tmp.list" ]; then
		install -m 0644 "$tmp.list" "${SRCLIST%.sources}.list"
	fi
	rm -f "$tmp" "$tmp.list"
	have_src || { log "could not derive a deb-src entry"; exit 1; }
	apt-get update -qq
elif ! compgen -G "/var/lib/apt/lists/*_Sources*" >/dev/null; then
	apt-get update -qq
fi

# --- check Debian's static archives -----------------------------------------
for a in libssl libcrypto libnghttp2 libz libyaml libnftnl libprotobuf-c; do
	[ -f "$SYSLIB/$a.a" ] || { log "missing $SYSLIB/$a.a"; exit 1; }
done

SRC=$PREFIX/src
rm -rf "$SRC" "$PREFIX/include" "$PREFIX/lib" "$PREFIX/.done"
mkdir -p "$SRC" "$PREFIX/include" "$PREFIX/lib"

fetch_source() { # $1 = source package; prints the unpacked directory
	if ! (cd "$SRC" && apt-get source "$1") >"$SRC/$1-source.log" 2>&1; then
		cat "$SRC/$1-source.log" >&2
		log "apt-get source $1 failed"
		return 1
	fi
	find "$SRC" -mindepth 1 -maxdepth 1 -type d -name "$1-*" | head -n1
}

# --- libcurl ---------------------------------------------------------------
log "building libcurl"
t0=$(date +%s)
CURL_SRC=$(fetch_source curl)
cmake -S "$CURL_SRC" -B "$SRC/curl-build" -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
	-DCMAKE_POSITION_INDEPENDENT_CODE=ON \
	-DBUILD_SHARED_LIBS=OFF -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF \
	-DHTTP_ONLY=ON -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON \
	-DCURL_DISABLE_DICT=ON -DCURL_DISABLE_FILE=ON -DCURL_DISABLE_FTP=ON \
	-DCURL_DISABLE_GOPHER=ON -DCURL_DISABLE_IMAP=ON -DCURL_DISABLE_MQTT=ON \
	-DCURL_DISABLE_POP3=ON -DCURL_DISABLE_RTSP=ON -DCURL_DISABLE_SMB=ON \
	-DCURL_DISABLE_SMTP=ON -DCURL_DISABLE_TELNET=ON -DCURL_DISABLE_TFTP=ON \
	-DCURL_USE_OPENSSL=ON -DUSE_NGHTTP2=ON -DCURL_ZLIB=ON \
	-DCURL_BROTLI=OFF -DCURL_ZSTD=OFF -DUSE_LIBIDN2=OFF -DUSE_LIBRTMP=OFF \
	-DCURL_USE_LIBPSL=OFF -DCURL_USE_GSSAPI=OFF -DCURL_USE_LIBSSH2=OFF \
	-DCURL_USE_LIBSSH=OFF -DUSE_NGTCP2=OFF -DUSE_QUICHE=OFF -DUSE_MSH3=OFF \
	-DENABLE_ARES=OFF -DENABLE_UNIX_SOCKETS=ON -DENABLE_THREADED_RESOLVER=ON \
	-DCURL_CA_FALLBACK=OFF \
	-DOPENSSL_USE_STATIC_LIBS=ON -DZLIB_LIBRARY="$SYSLIB/libz.a" \
	-DNGHTTP2_LIBRARY="$SYSLIB/libnghttp2.a" >"$SRC/curl-cmake.log"
cmake --build "$SRC/curl-build" -j"$JOBS" >"$SRC/curl-build.log" 2>&1 ||
	{ tail -n 30 "$SRC/curl-build.log" >&2; exit 1; }
cmake --install "$SRC/curl-build" >"$SRC/curl-install.log"
[ -f "$PREFIX/lib/libcurl.a" ] || { log "libcurl.a was not installed"; exit 1; }
log "libcurl built in $(($(date +%s) - t0)) s ($(basename "$CURL_SRC"))"

# --- cJSON -----------------------------------------------------------------
log "building cJSON"
CJSON_SRC=$(fetch_source cjson)
mkdir -p "$SRC/cjson-build" "$PREFIX/include/cjson"
for f in cJSON cJSON_Utils; do
	gcc -O2 -fPIC -std=c89 -c "$CJSON_SRC/$f.c" -I"$CJSON_SRC" -o "$SRC/cjson-build/$f.o"
	install -m 0644 "$CJSON_SRC/$f.h" "$PREFIX/include/cjson/$f.h"
done
ar rcs "$PREFIX/lib/libcjson.a" "$SRC/cjson-build/cJSON.o"
ar rcs "$PREFIX/lib/libcjson_utils.a" "$SRC/cjson-build/cJSON_Utils.o"

# --- static.mk ---------------------------------------------------------------
# Link order: each archive before the ones it uses. The -I for core/mnl makes
# <libmnl/libmnl.h> resolve to knode's own libmnl (Debian has no libmnl.a);
# STATIC_EXTRA_SRC (core/mnl/mnl.c) must be compiled and linked in as an
# ordinary object. Put STATIC_CFLAGS before any pkg-config -I flags so the
# prefix's headers win.
cat >"$PREFIX/static.mk" <<EOF
# Generated by scripts/static-deps.sh; do not edit.
# Compile every object with \$(STATIC_CFLAGS), add \$(STATIC_EXTRA_SRC) (paths
# relative to the repository root) to the sources, then link with
#   \$(CC) \$(STATIC_LDFLAGS) -o knode \$(objects) \$(STATIC_LIBS)
STATIC_DEPS_PREFIX := $PREFIX
STATIC_CFLAGS := -I$PREFIX/include -I$ROOT/core/mnl
STATIC_EXTRA_SRC := core/mnl/mnl.c
STATIC_LDFLAGS := -static
STATIC_LIBS := $PREFIX/lib/libcurl.a $PREFIX/lib/libcjson_utils.a $PREFIX/lib/libcjson.a -Wl,-Bstatic -lnftnl -lyaml -lprotobuf-c -lnghttp2 -lssl -lcrypto -lz -lpthread -ldl
EOF

rm -rf "$SRC"
echo "$HASH" >"$PREFIX/.done"
log "done: $PREFIX/static.mk"
