# Roost - GNU Make build.
#
#   make              build roostd and roost into build/
#   make run          set up ./run/ (config, certificate, demo account) and start roostd
#   make test         unit tests + integration tests
#   make SAN=1 test   the same under AddressSanitizer + UndefinedBehaviorSanitizer (build-san/)
#   make fuzz         libFuzzer targets (clang) into build-fuzz/
#   make install      PREFIX=/usr/local DESTDIR=
#   make clean

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
PYTHON ?= /usr/bin/python3
PYTEST_ARGS ?=

PKGS := libevent libevent_pthreads libevent_openssl openssl sqlite3 zlib

ifeq ($(SAN),1)
B := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
else
B := build
SANFLAGS :=
OPT := -O2
endif

# pkg-config is asked only when a build needs it, so `make clean` works
# on a machine that lacks the libraries.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS ?= $(OPT) -g
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	-Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Isrc $(CFLAGS) $(SANFLAGS)
LDLIBS := -lcrypt -lpthread -lm

# Layers, lowest first; each is an archive build/lib<layer>.a. A layer's
# entry lists what it links against (itself first), so a unit test of one
# layer builds even while a higher layer is being changed.
LAYERS := lib net mime store auth imap pop3 lmtp web daemon cli
DEPS_lib := lib
DEPS_net := net lib
DEPS_mime := mime lib
DEPS_store := store mime lib
DEPS_auth := auth store mime lib
DEPS_imap := imap auth store mime net lib
DEPS_pop3 := pop3 auth store mime net lib
DEPS_lmtp := lmtp auth store mime net lib
DEPS_web := web auth store mime net lib
DEPS_daemon := daemon cli web lmtp pop3 imap auth store mime net lib
DEPS_cli := $(DEPS_daemon)
LIB_SRCS := $(foreach d,$(LAYERS),$(wildcard src/$(d)/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
ALL_ARCHIVES := $(foreach l,$(DEPS_daemon),$(B)/lib$(l).a)
objs_of = $(patsubst %.c,$(B)/%.o,$(wildcard src/$(1)/*.c))
layer_of = $(word 1,$(subst -, ,$(1)))
layer_archives = $(foreach l,$(DEPS_$(call layer_of,$(1))),$(B)/lib$(l).a)
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/unit/%)
FUZZ_SRCS := $(wildcard fuzz/fuzz-*.c)

.PHONY: all deps run test unit integration install clean fuzz bench check-deps
all: $(B)/roostd $(B)/roost

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

# An empty layer still gets an (empty) archive.
.SECONDEXPANSION:
.SECONDARY:
$(B)/lib%.a: $$(call objs_of,$$*)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(B)/roostd: $(B)/src/roostd.o $(ALL_ARCHIVES)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(B)/roost: $(B)/src/roost.o $(ALL_ARCHIVES)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# tests/unit/test-<layer>-<name>.c links the archives of <layer>.
$(B)/unit/test-%: $(B)/tests/unit/test-%.o $(B)/tests/unit/unit.o $$(call layer_archives,$$*)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

deps:
	@scripts/deps.sh

check-deps:
	@scripts/deps.sh --check

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run.sh $(B)

unit: $(UNIT_BINS)
	@scripts/run-unit.sh $(UNIT_BINS)

integration: all
	ROOST_BUILD=$(abspath $(B)) $(PYTHON) -m pytest -q tests/integration $(PYTEST_ARGS)

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BINS)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory integration

# libFuzzer targets: every parser gets one (fuzz/fuzz-*.c). Built with clang
# and ASan; run e.g. build-fuzz/fuzz-imap-parser -max_total_time=60
FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer-no-link,address,undefined
FUZZ_OBJS := $(LIB_SRCS:%.c=build-fuzz/%.o)
build-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@
build-fuzz/libroost.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^
build-fuzz/fuzz-%: fuzz/fuzz-%.c build-fuzz/libroost.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -o $@ $(PKG_LIBS) $(LDLIBS)
.PHONY: fuzz-smoke
# Runs each fuzz target briefly over its seed corpus (fuzz/corpus/<target>/).
fuzz-smoke: fuzz
	@for f in $(FUZZ_SRCS:fuzz/%.c=build-fuzz/%); do n=$$(basename $$f); mkdir -p fuzz/corpus/$$n; \
		$$f -max_total_time=$${FUZZ_SECONDS:-10} -rss_limit_mb=1024 fuzz/corpus/$$n >/dev/null 2>build-fuzz/$$n.log || { tail -40 build-fuzz/$$n.log; exit 1; }; echo "$$n: ok"; done
fuzz: $(FUZZ_SRCS:fuzz/%.c=build-fuzz/%)

bench: all
	@bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/roost
	install -m 755 $(B)/roostd $(DESTDIR)$(PREFIX)/sbin/roostd
	install -m 755 $(B)/roost $(DESTDIR)$(PREFIX)/bin/roost
	install -m 644 roost.conf.example README.md $(DESTDIR)$(PREFIX)/share/doc/roost/
	cp -r docs $(DESTDIR)$(PREFIX)/share/doc/roost/

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(B) build-fuzz -name '*.d' 2>/dev/null)
