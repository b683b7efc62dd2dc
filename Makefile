# knode: kubelet and kube-proxy in one small binary.
# make            dynamic development build (./knode)
# make static     fully static build (build/static/knode)
# make unit       C unit tests (cmocka);  make asan: the same under ASan+UBSan
# make e2e        end-to-end tests against a real control plane (tests/cluster)
# make conformance  upstream's node conformance suite on a real node (KUBELET=knode|upstream)
# make test       everything CI runs;  make fuzz: libFuzzer targets;  make bench
# V=1 shows the commands.

CC ?= cc
SHELL := /bin/bash
PKG_CONFIG ?= pkg-config
PKGS := libcurl libcjson yaml-0.1 libnftnl libmnl libssl libcrypto zlib libprotobuf-c
KUBE_VERSION := $(shell cat KUBE_VERSION)
VERSION := 0.1.0$(shell git rev-parse --short HEAD 2>/dev/null | sed 's/^/+g/')

OPTFLAGS ?= -O2 -g
CFLAGS += $(OPTFLAGS) -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -MMD -MP -D_GNU_SOURCE \
	-DKN_KUBE_VERSION='"$(KUBE_VERSION)"' -Ibuild/gen -Ulinux \
	$(shell $(PKG_CONFIG) --cflags $(PKGS))
LDLIBS += $(shell $(PKG_CONFIG) --libs $(PKGS)) -lpthread -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

# C generated at build time from CRI's own api.proto (k8s.io/cri-api, fetched by
# scripts/cri-proto.sh); never committed. -Ibuild/gen makes it <runtime/api.pb-c.h>;
# -Ulinux because GNU C predefines `linux` and CRI messages have a field of that name.
GEN := build/gen/runtime
GEN_SRC := $(GEN)/api.pb-c.c
GEN_HDR := $(GEN)/api.pb-c.h

CORE_SRC := $(wildcard core/*.c)
RUNTIME_SRC := $(wildcard runtime/*.c)
APP_SRC := $(wildcard cmd/*.c kubelet/*.c proxy/*.c) $(RUNTIME_SRC)
SRC := $(CORE_SRC) $(APP_SRC) $(GEN_SRC)
OBJ := $(SRC:%.c=build/obj/%.o)
CORE_OBJ := $(CORE_SRC:%.c=build/obj/%.o)
# proxy and runtime modules with no applet state, linked into unit tests too
PROXY_LIB_SRC := proxy/nft.c proxy/nft_expr.c proxy/conntrack.c proxy/model.c proxy/rules.c proxy/claims.c \
	proxy/proxier.c proxy/health.c
# the kubelet's modules (kubelet/ depends only on core/ and runtime/)
KUBELET_LIB_SRC := $(wildcard kubelet/*.c)
LIB_SRC := $(CORE_SRC) $(PROXY_LIB_SRC) $(RUNTIME_SRC) $(GEN_SRC) $(KUBELET_LIB_SRC)
LIB_OBJ := $(LIB_SRC:%.c=build/obj/%.o)
# the unit tests' scripted HTTP/2 server (test_cri) uses libnghttp2
UNIT_LDLIBS := $(shell $(PKG_CONFIG) --libs libnghttp2) -lcmocka
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/unit/%)

all: knode

# Only core/version.o carries knode's version, and only it is rebuilt when git moves.
GIT_STATE := $(wildcard .git/HEAD .git/index)
build/obj/core/version.o build/static/obj/core/version.o build/asan/obj/core/version.o: $(GIT_STATE)
%/core/version.o: CFLAGS += -DKN_VERSION='"$(VERSION)"'

knode: $(OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

build/obj/%.o: %.c | $(GEN_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# ---- static build: deps from scripts/static-deps.sh ----
STATIC_PREFIX := build/static-deps
# static.mk (made by scripts/static-deps.sh) defines STATIC_CFLAGS and STATIC_LIBS. It is
# read only for static goals; make builds it first and restarts when it is missing.
ifneq ($(filter static build/static/%,$(MAKECMDGOALS)),)
include $(STATIC_PREFIX)/static.mk
endif
STATIC_OBJ := $(SRC:%.c=build/static/obj/%.o) $(STATIC_EXTRA_SRC:%.c=build/static/obj/%.o)

static: build/static/knode
build/static/knode: $(STATIC_PREFIX)/static.mk $(STATIC_OBJ)
	@echo "  LD      $@ (static)"
	$(Q)rm -f $@
	$(Q)set -o pipefail; $(CC) -static $(CFLAGS) -o $@ $(STATIC_OBJ) $(STATIC_LIBS) -lpthread -lm 2>&1 | \
		{ grep -v -e 'requires at runtime the shared libraries' -e 'in function' || true; }
	$(Q)strip -o $@.stripped $@
	@ls -l $@.stripped | awk '{print "  SIZE    " $$5 " bytes (stripped)"}'

build/static/obj/%.o: %.c $(STATIC_PREFIX)/static.mk | $(GEN_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $< (static)"
	$(Q)$(CC) $(STATIC_CFLAGS) $(CFLAGS) -c -o $@ $<

$(STATIC_PREFIX)/static.mk:
	bash scripts/static-deps.sh $(STATIC_PREFIX)

# ---- generated CRI messages ----
$(GEN)/api.proto: scripts/cri-proto.sh KUBE_VERSION
	@mkdir -p $(dir $@)
	@echo "  PROTO   $@"
	$(Q)src=$$(bash scripts/cri-proto.sh $(KUBE_VERSION)) && \
		sed -e 's/ *\[debug_redact *= *true\]//' -e '/gogoproto/d' "$$src" >$@.tmp && mv $@.tmp $@
$(GEN_SRC) $(GEN_HDR) &: $(GEN)/api.proto
	@echo "  PROTOC  $<"
	$(Q)protoc-c --proto_path=$(GEN) --c_out=$(GEN) $<

# ---- unit tests ----
build/unit/test_%: tests/unit/test_%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -Icore -Iproxy -Ikubelet -o $@ $(filter %.c %.o,$^) $(LDLIBS) $(UNIT_LDLIBS)

# test_probes serves HTTPS with a self-signed certificate (and gRPC over h2c)
build/unit/test_probes build/asan/unit/test_probes: LDLIBS += $(shell $(PKG_CONFIG) --libs libssl)

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
asan:
	$(MAKE) --no-print-directory BUILD_ASAN=1 OPTFLAGS="$(ASAN_FLAGS)" LDFLAGS="$(ASAN_FLAGS)" asan-run

ifdef BUILD_ASAN
ASAN_CORE_OBJ := $(LIB_SRC:%.c=build/asan/obj/%.o)
ASAN_UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=build/asan/unit/%)
.SECONDARY: $(ASAN_CORE_OBJ) # kept between runs, as the ordinary objects are
build/asan/obj/%.o: %.c | $(GEN_HDR)
	@mkdir -p $(dir $@)
	@echo "  CC      $< (asan)"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<
build/asan/unit/test_%: tests/unit/test_%.c $(ASAN_CORE_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LD      $@ (asan)"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -Icore -Iproxy -Ikubelet -o $@ $(filter %.c %.o,$^) $(LDLIBS) $(UNIT_LDLIBS)
-include $(ASAN_CORE_OBJ:.o=.d) $(ASAN_UNIT_BIN:=.d)
asan-run: $(ASAN_UNIT_BIN)
	@set -e; for t in $(ASAN_UNIT_BIN); do echo "== $$t (asan+ubsan)"; \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $$t; done
endif

# ---- fuzzing (clang + libFuzzer) ----
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := config watch kubeconfig kpb cri quantity kubelet_http model
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -Ibuild/gen -Ulinux \
	$(shell $(PKG_CONFIG) --cflags $(PKGS))
fuzz: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	@set -e -o pipefail; for t in $(FUZZ_TARGETS); do mkdir -p build/fuzz/corpus_$$t; \
		echo "== fuzz_$$t for $(FUZZ_SECONDS)s"; \
		build/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
			-artifact_prefix=build/fuzz/crash_$$t- \
			build/fuzz/corpus_$$t tests/fuzz/seeds/$$t 2>&1 | tail -n 3; done
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(CORE_SRC)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang $(FUZZ_CFLAGS) -Icore -o $@ $^ $(LDLIBS)
# the kubelet API's request heads and CRI log lines
build/fuzz/fuzz_kubelet_http: tests/fuzz/fuzz_kubelet_http.c $(CORE_SRC) kubelet/http.c kubelet/auth.c kubelet/logs.c \
		$(RUNTIME_SRC) $(GEN_SRC)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang $(FUZZ_CFLAGS) -Icore -o $@ $^ $(LDLIBS)
# hostile Services and EndpointSlices through kube-proxy's model and rule planning
build/fuzz/fuzz_model: tests/fuzz/fuzz_model.c $(CORE_SRC) proxy/model.c proxy/rules.c proxy/nft.c proxy/nft_expr.c
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang $(FUZZ_CFLAGS) -Icore -o $@ $^ $(LDLIBS)
# the gRPC frame and CRI message decoding, without the transport
build/fuzz/fuzz_cri: tests/fuzz/fuzz_cri.c $(CORE_SRC) runtime/grpc.c $(GEN_SRC)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang $(FUZZ_CFLAGS) -Icore -o $@ $^ $(LDLIBS)

# ---- end-to-end and benchmarks ----
e2e: knode
	python3 -m pytest -q -rs tests/e2e

bench: knode
	@set -e; for b in tests/bench/*.sh; do [ -e "$$b" ] || continue; echo "== $$b"; bash $$b; done

# Upstream's [NodeConformance] suite (outside [Serial]/[Slow]/[Disruptive]/[Flaky]) on the test
# node (tests/node): KUBELET=knode (default) or KUBELET=upstream, the baseline. FOCUS/SKIP/PROCS
# narrow or widen it; `tests/conformance/run.sh build` only builds e2e.test, ginkgo, CoreDNS.
conformance: knode
	KUBELET=$${KUBELET:-knode} bash tests/conformance/run.sh

# A short, representative part of the suite for CI: pod lifecycle, status, init containers,
# probes, volumes, env, logs, exec, hooks, security context. No cluster DNS needed.
CONFORMANCE_SUBSET := Pods should get a host IP|Container Runtime blackbox test on terminated container should report termination message|InitContainer .*should invoke init containers on a RestartNever pod|Probing container should be restarted with a exec "cat /tmp/health" liveness probe|Downward API volume should provide podname only|ConfigMap should be consumable from pods in volume \[NodeConformance\]|Secrets should be consumable from pods in volume \[NodeConformance\]|Variable Expansion should allow composing env vars into new env vars|Kubelet when scheduling a busybox command in a pod should print the output to logs|should execute poststart exec hook properly|Pods should support remote command execution over websockets|Security Context When creating a container with runAsUser should run the container with uid 65534
conformance-subset: knode
	KUBELET=$${KUBELET:-knode} KUBE_PROXY=$${KUBE_PROXY:-knode} DNS=0 PROCS=2 \
		FOCUS='$(CONFORMANCE_SUBSET)' KNODE_NODE_NETNS=kn-conf-ci KNODE_NODE_DIR=/tmp/knode-conf-ci \
		KNODE_NODE_CGROUP_ROOT=/knode-conf-ci bash tests/conformance/run.sh

deps:
	@bash scripts/deps.sh

# Everything CI runs: unit tests, the sanitizer run, the static build, and the
# end-to-end tests (which also smoke-test the static binary).
test: deps
	$(MAKE) --no-print-directory knode
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory asan
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-8}
	$(MAKE) --no-print-directory static
	$(MAKE) --no-print-directory e2e
	$(MAKE) --no-print-directory conformance-subset

# Build everything and run knode on a local single-node cluster (see README).
run: deps knode
	bash scripts/run-local.sh

clean:
	rm -rf build knode

.PHONY: all deps static unit asan asan-run fuzz e2e bench test run conformance conformance-subset clean
# unit test binaries are compiled in one step, so their .d sits next to them
-include $(OBJ:.o=.d) $(STATIC_OBJ:.o=.d) $(UNIT_BIN:=.d)
