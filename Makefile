# Safe Code Executor: build the FastCGI programs, test them, serve them.
#   make run     install what is missing, build, serve on http://127.0.0.1:5000 (Ctrl+C stops)
#   make cluster the same with three hosts behind a front, history in Redis (docs/SCALING.md)
#   make test    install what is missing, build, run every test (alias: make check)
#   make images  build the sandbox images when missing or older than the script's
#   make bench   measure POST /run beside a bare docker run (needs what make test needs)
#   make soak    15 minutes of mixed load under injected faults, then checks that nothing leaked
#   V=1 shows the commands; SANITIZE=address,undefined builds with sanitizers.

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
DESTDIR ?=
LIBDIR := $(PREFIX)/lib/safe-code-executor
SHAREDIR := $(PREFIX)/share/safe-code-executor
CONFDIR := $(SYSCONFDIR)/safe-code-executor
STATEDIR := $(LOCALSTATEDIR)/lib/safe-code-executor
DEFAULT_CONFIG ?= $(CURDIR)/conf/sce.conf

CC ?= cc
CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
	-Wmissing-prototypes -Wvla -Wpointer-arith -Wundef
CPPFLAGS += -D_GNU_SOURCE -DSCE_DEFAULT_CONFIG='"$(DEFAULT_CONFIG)"'
LDLIBS := -lfcgi -lcjson -lhiredis
SANITIZE ?=
BUILD ?= build

ifneq ($(SANITIZE),)
CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=$(SANITIZE)
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC := config.c conffile.c languages.c utf8.c response.c request.c spawn.c container.c \
	records.c pool.c sweep.c sandbox.c \
	history_store.c history_redis.c history.c drain.c proxy.c sse.c marks.c run_stream.c cutoff.c keeper.c \
	lockfile.c log.c slots.c html.c metrics.c supervise.c front.c origin.c \
	run_handler.c \
	history_handler.c
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
PROGRAMS := cgi-bin/run.fcgi cgi-bin/history.fcgi
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))

.SECONDARY:

.PHONY: all run cluster test check unit unit-san fuzz http browser images deps bench soak clean format \
	install uninstall

all: $(PROGRAMS) htdocs/index.html build/attach

# /usr/lib/sce/attach of every sandbox image (images/attach.c; build-images.sh copies it in):
# static, since it runs in images of any content.
build/attach: images/attach.c Makefile
	@mkdir -p $(@D)
	@test "$(V)" = 1 || echo "  CC      $< (static)"
	$(Q)$(CC) -static -O2 $(WARNINGS) -o $@ $<

# The page, its language selector filled from the table (so the form offers every language
# without JavaScript).
htdocs/index.html: htdocs/index.html.in cgi-bin/run.fcgi conf/languages.conf
	@test "$(V)" = 1 || echo "  PAGE    $@"
	$(Q)cgi-bin/run.fcgi --render-page $< >$@.tmp && mv $@.tmp $@

$(BUILD)/%.o: cgi-bin/%.c $(wildcard cgi-bin/*.h) Makefile
	@mkdir -p $(@D)
	@test "$(V)" = 1 || echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(WARNINGS) -c -o $@ $<

cgi-bin/%.fcgi: $(BUILD)/%_main.o $(LIB_OBJ)
	@test "$(V)" = 1 || echo "  LINK    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.fcgi: $(BUILD)/%_main.o $(LIB_OBJ)
	@test "$(V)" = 1 || echo "  LINK    $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ) $(wildcard cgi-bin/*.h tests/unit/*.h)
	@mkdir -p $(@D)
	@test "$(V)" = 1 || echo "  TEST-CC $<"
	$(Q)$(CC) $(CPPFLAGS) -Icgi-bin $(CFLAGS) $(WARNINGS) $(LDFLAGS) -o $@ $< $(LIB_OBJ) \
		$(LDLIBS) -lcmocka

# C unit tests (cmocka).
unit: $(UNIT_TESTS)
	$(Q)set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $$t; done

# The same unit tests under AddressSanitizer and UBSan.
unit-san:
	$(Q)$(MAKE) --no-print-directory unit SANITIZE=address,undefined BUILD=build/san

# libFuzzer targets (clang, ASan, UBSan): the request parser and the output-to-JSON encoder.
# FUZZ_RUNS inputs each (make test runs a short pass), or FUZZ_SECONDS each when set.
FUZZ_TARGETS := request output
FUZZ_RUNS ?= 20000
FUZZ_SECONDS ?=
FUZZ_SRC_request := request.c utf8.c languages.c conffile.c
FUZZ_SRC_output := response.c utf8.c
FUZZ_FLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard cgi-bin/*.c cgi-bin/*.h)
	@mkdir -p $(@D)
	@test "$(V)" = 1 || echo "  FUZZ-CC $<"
	$(Q)clang $(CPPFLAGS) -Icgi-bin $(FUZZ_FLAGS) $(WARNINGS) -o $@ $< \
		$(addprefix cgi-bin/,$(FUZZ_SRC_$*)) -lcjson

fuzz: $(FUZZ_TARGETS:%=build/fuzz/fuzz_%)
	$(Q)for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/corpus-$$t; \
		echo "== fuzz_$$t"; \
		if ! build/fuzz/fuzz_$$t $(if $(FUZZ_SECONDS),-max_total_time=$(FUZZ_SECONDS),-runs=$(FUZZ_RUNS)) \
			-max_len=70000 -print_final_stats=1 build/fuzz/corpus-$$t tests/fuzz/seeds/$$t \
			>build/fuzz/$$t.log 2>&1; then \
			tail -n 40 build/fuzz/$$t.log; echo "fuzz_$$t failed (log: build/fuzz/$$t.log)"; exit 1; \
		fi; \
		grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^Done " build/fuzz/$$t.log; \
		grep -E "^#[0-9]+.*(cov|ft):" build/fuzz/$$t.log | tail -n 1; \
	done

# HTTP suite against the real stack (needs dockerd and the images: use make test).
http: all
	$(Q)/usr/bin/python3 -m pytest -q tests/http

# Browser tests (node --test, playwright-core, Debian's Chromium); screenshots in tests/output/.
browser: all
	$(Q)node --test tests/browser/

images: all
	$(Q)scripts/build-images.sh

# Latency of POST /run beside a bare docker run, measured side by side (not a test).
bench:
	$(Q)scripts/bench.sh

# The soak under faults (not part of make test, which runs a one-minute version of it).
SOAK_ARGS ?=
soak:
	$(Q)scripts/soak.sh $(SOAK_ARGS)

deps:
	$(Q)scripts/deps.sh

test:
	$(Q)scripts/test.sh

check: test

run:
	$(Q)scripts/run.sh

cluster:
	$(Q)scripts/cluster.sh

format:
	clang-format -i cgi-bin/*.c cgi-bin/*.h tests/unit/*.c

SYSTEMD_UNITS := safe-code-executor-run.socket safe-code-executor-run.service \
	safe-code-executor-history.socket safe-code-executor-history.service

# Programs under $(PREFIX)/lib, the page and scripts under $(PREFIX)/share, the config under
# $(SYSCONFDIR) (kept when there), the state under $(LOCALSTATEDIR)/lib, drop-ins for lighttpd
# and nginx, systemd socket and service units. The programs are built for the installed config path.
install: htdocs/index.html
	$(Q)$(MAKE) --no-print-directory BUILD=build/install DEFAULT_CONFIG=$(CONFDIR)/sce.conf \
		build/install/run.fcgi build/install/history.fcgi
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(SHAREDIR)/htdocs/errors \
		$(DESTDIR)$(SHAREDIR)/htdocs/examples $(DESTDIR)$(SHAREDIR)/scripts \
		$(DESTDIR)$(SHAREDIR)/images $(DESTDIR)$(SHAREDIR)/conf/front-errors \
		$(DESTDIR)$(CONFDIR) $(DESTDIR)$(SYSCONFDIR)/lighttpd/conf-available \
		$(DESTDIR)$(SYSCONFDIR)/nginx/snippets $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -d -m 0700 $(DESTDIR)$(STATEDIR)
	install -m 0755 build/install/run.fcgi build/install/history.fcgi $(DESTDIR)$(LIBDIR)/
	install -m 0644 htdocs/index.html htdocs/index.html.in htdocs/app.js htdocs/style.css \
		htdocs/api.txt $(DESTDIR)$(SHAREDIR)/htdocs/
	install -m 0644 htdocs/errors/*.html $(DESTDIR)$(SHAREDIR)/htdocs/errors/
	install -m 0644 htdocs/examples/*.json $(DESTDIR)$(SHAREDIR)/htdocs/examples/
	install -m 0755 scripts/build-images.sh scripts/spawn.sh scripts/front.sh \
		$(DESTDIR)$(SHAREDIR)/scripts/
	# the multi-host front (docs/SCALING.md): scripts/front.sh reads them from here
	install -m 0644 conf/haproxy.cfg conf/haproxy-hosts.cfg $(DESTDIR)$(SHAREDIR)/conf/
	install -m 0644 conf/front-errors/*.http $(DESTDIR)$(SHAREDIR)/conf/front-errors/
	install -m 0644 images/*.js $(DESTDIR)$(SHAREDIR)/images/
	install -m 0755 images/*.sh $(DESTDIR)$(SHAREDIR)/images/
	install -m 0644 scripts/lib.sh $(DESTDIR)$(SHAREDIR)/scripts/
	install -m 0644 conf/seccomp.json $(DESTDIR)$(CONFDIR)/seccomp.json
	test -e $(DESTDIR)$(CONFDIR)/languages.conf || \
		install -m 0644 conf/languages.conf $(DESTDIR)$(CONFDIR)/languages.conf
	# the config may hold api_token: not for everyone to read (README: chgrp sce)
	test -e $(DESTDIR)$(CONFDIR)/sce.conf || { sed \
		-e 's|^history_path = .*|history_path = $(STATEDIR)/history.json|' \
		-e 's|^state_dir = .*|state_dir = $(STATEDIR)|' \
		conf/sce.conf >$(DESTDIR)$(CONFDIR)/sce.conf.new && \
		chmod 0640 $(DESTDIR)$(CONFDIR)/sce.conf.new && \
		mv $(DESTDIR)$(CONFDIR)/sce.conf.new $(DESTDIR)$(CONFDIR)/sce.conf; }
	sed -e 's|/usr/local|$(PREFIX)|g' conf/deploy/lighttpd-safe-code-executor.conf \
		>$(DESTDIR)$(SYSCONFDIR)/lighttpd/conf-available/50-safe-code-executor.conf
	sed -e 's|/usr/local|$(PREFIX)|g' conf/deploy/nginx-safe-code-executor.conf \
		>$(DESTDIR)$(SYSCONFDIR)/nginx/snippets/safe-code-executor.conf
	for u in $(SYSTEMD_UNITS); do sed -e 's|/usr/local|$(PREFIX)|g' \
		-e 's|/etc/safe-code-executor|$(CONFDIR)|g' -e 's|/var/lib/safe-code-executor|$(STATEDIR)|g' \
		conf/deploy/$$u >$(DESTDIR)$(PREFIX)/lib/systemd/system/$$u || exit 1; done

# Leaves the config and the history ($(CONFDIR), $(STATEDIR)) in place.
uninstall:
	rm -rf $(DESTDIR)$(LIBDIR) $(DESTDIR)$(SHAREDIR)
	rm -f $(DESTDIR)$(SYSCONFDIR)/lighttpd/conf-available/50-safe-code-executor.conf \
		$(DESTDIR)$(SYSCONFDIR)/nginx/snippets/safe-code-executor.conf \
		$(SYSTEMD_UNITS:%=$(DESTDIR)$(PREFIX)/lib/systemd/system/%)

clean:
	rm -rf build $(PROGRAMS) htdocs/index.html
