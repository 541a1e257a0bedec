/* container.c - docker run/exec/rm argv and calls for a sandbox container; its cgroup figures. */
#include "container.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"

/*
 * What docker exec runs: print the start mark (one byte, CONTAINER_START_MARK) on stdout and on
 * stderr to say the program is starting, then run it with no environment but PATH, under a KILL
 * backstop so that a program whose supervisor died still ends by itself. What docker itself says
 * before the program starts comes before the mark on stderr.
 */
#define LAUNCHER "printf '\\036' && printf '\\036' >&2 && exec env -i PATH=/usr/bin:/bin timeout -s KILL \"$@\""
#define DOCKER_TIMEOUT_MS 15000

static const char *const python_cmd[] = { "python3", "-I", "-u", "-", NULL };
/* Node.js from the image's startup snapshot (images/node-stdin.js: like `node -`, about 20 ms
 * sooner) when the image has one, else `node -` (as in node:18-slim). The shell would hand node
 * its PWD: the program's environment is PATH only. A program that mentions "import" runs with
 * plain `node -`, which has import(). */
#define NODE_SNAPSHOT "/usr/lib/sce/node-stdin.blob"
static const char *const node_cmd[] = {
	"sh", "-c",
	"unset PWD; [ -r " NODE_SNAPSHOT " ] && exec node --snapshot-blob " NODE_SNAPSHOT
	"; exec node -", NULL
};
static const char *const node_plain_cmd[] = { "node", "-", NULL };

static const char *image_of(const struct config *cfg, enum language lang)
{
	return lang == LANG_JAVASCRIPT ? cfg->javascript_image : cfg->python_image;
}

void container_init(struct container *ct, const struct config *cfg, enum language lang)
{
	unsigned char r[8];
	size_t i;
	int o;

	memset(ct, 0, sizeof(*ct));
	ct->lang = lang;
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		memset(r, 0, sizeof(r)); /* the pid still tells containers of a process apart */
	o = snprintf(ct->name, sizeof(ct->name), "sce-%s-%ld-", cfg->instance, (long)getpid());
	for (i = 0; i < sizeof(r) && o > 0 && (size_t)o + 2 < sizeof(ct->name); i++)
		o += snprintf(ct->name + o, sizeof(ct->name) - (size_t)o, "%02x", r[i]);
}

void container_create_argv(struct docker_argv *a, const struct config *cfg,
			   const struct container *ct)
{
	size_t n = 0;

	snprintf(a->label, sizeof(a->label), "org.safe-code-executor.instance=%s", cfg->instance);
	snprintf(a->memory, sizeof(a->memory), "%dm", cfg->memory_mb);
	snprintf(a->pids, sizeof(a->pids), "%d", cfg->pids_limit);
	snprintf(a->nofile, sizeof(a->nofile), "nofile=%d:%d", cfg->nofile, cfg->nofile);
	snprintf(a->fsize, sizeof(a->fsize), "fsize=%lld:%lld", (long long)cfg->fsize_kb * 1024,
		 (long long)cfg->fsize_kb * 1024);
	snprintf(a->seccomp, sizeof(a->seccomp), "seccomp=%s", cfg->seccomp_profile);
	snprintf(a->idle, sizeof(a->idle), "exec sleep %d", IDLE_SECONDS);

#define ARG(s) (a->argv[n++] = (char *)(s))
	ARG(cfg->docker);
	ARG("run");
	ARG("--detach");
	ARG("--name"); ARG(ct->name);
	ARG("--label"); ARG(a->label);
	ARG("--runtime"); ARG(cfg->runtime);
	ARG("--pull"); ARG("never");
	ARG("--log-driver"); ARG("none");
	ARG("--network"); ARG("none");
	ARG("--read-only");
	ARG("--ipc"); ARG("none"); /* and so no /dev/shm */
	ARG("--mount"); ARG("type=tmpfs,destination=/dev/mqueue,readonly,tmpfs-size=4096");
	ARG("--memory"); ARG(a->memory);
	ARG("--memory-swap"); ARG(a->memory);
	ARG("--pids-limit"); ARG(a->pids);
	ARG("--cpus"); ARG(cfg->cpus);
	ARG("--cap-drop"); ARG("ALL");
	ARG("--security-opt"); ARG("no-new-privileges");
	ARG("--security-opt"); ARG(a->seccomp);
	ARG("--user"); ARG("65534:65534");
	ARG("--init");
	ARG("--ulimit"); ARG(a->nofile);
	ARG("--ulimit"); ARG(a->fsize);
	ARG("--ulimit"); ARG("core=0");
	ARG("--workdir"); ARG("/tmp");
	ARG("--hostname"); ARG("sandbox");
	ARG("--entrypoint"); ARG("/bin/sh");
	ARG(image_of(cfg, ct->lang));
	ARG("-c"); ARG(a->idle);
	a->argv[n] = NULL;
#undef ARG
}

void container_exec_argv(struct docker_argv *a, const struct config *cfg,
			 const struct container *ct, const char *code, size_t code_len)
{
	const char *const *cmd = python_cmd;

	if (ct->lang == LANG_JAVASCRIPT)
		cmd = memmem(code, code_len, "import", 6) ? node_plain_cmd : node_cmd;
	size_t n = 0;

	snprintf(a->backstop, sizeof(a->backstop), "%d", cfg->timeout_s + RUN_BACKSTOP_S);
	a->argv[n++] = (char *)cfg->docker;
	a->argv[n++] = "exec";
	a->argv[n++] = "--interactive";
	a->argv[n++] = (char *)ct->name;
	a->argv[n++] = "/bin/sh";
	a->argv[n++] = "-c";
	a->argv[n++] = LAUNCHER;
	a->argv[n++] = "sh";
	a->argv[n++] = a->backstop;
	for (; *cmd; cmd++)
		a->argv[n++] = (char *)*cmd;
	a->argv[n] = NULL;
}

void container_failure(const struct config *cfg, enum language lang, const char *docker_err,
		       char *err, size_t errlen)
{
	if (docker_err && strstr(docker_err, "No such image"))
		snprintf(err, errlen, "sandbox image %s is not available: build it with make images",
			 image_of(cfg, lang));
	else if (docker_err && strstr(docker_err, "Cannot connect to the Docker daemon"))
		snprintf(err, errlen, "sandbox unavailable: the Docker engine is not running");
	else
		snprintf(err, errlen, "sandbox unavailable: the container did not start");
	log_msg("container for %s: %s", language_name(lang), docker_err ? docker_err : "(no message)");
}

int container_create(const struct config *cfg, struct container *ct, char *err, size_t errlen)
{
	struct docker_argv a;
	struct child c = CHILD_INIT;
	char msg[256];
	int ret = -1;
	size_t len;

	container_create_argv(&a, cfg, ct);
	c.out.limit = sizeof(ct->id) - 1;
	c.err.limit = 4096;
	if (child_spawn(&c, cfg->docker, a.argv, msg, sizeof(msg))) {
		log_msg("%s", msg);
		snprintf(err, errlen, "sandbox unavailable: cannot run docker");
		goto out;
	}
	if (child_pump(&c, mono_ms() + cfg->start_timeout_s * 1000LL, 0, NULL) != PUMP_EOF ||
	    child_wait(&c, mono_ms() + 5000)) {
		snprintf(err, errlen, "sandbox unavailable: the container did not start in time");
		goto out;
	}
	len = c.out.len;
	while (len && (c.out.buf[len - 1] == '\n' || c.out.buf[len - 1] == '\r'))
		len--;
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) || len < 12) {
		container_failure(cfg, ct->lang, c.err.buf, err, errlen);
		goto out;
	}
	memcpy(ct->id, c.out.buf, len);
	ct->id[len] = '\0';
	ret = 0;
out:
	child_release(&c);
	if (ret)
		container_remove(cfg, ct->name); /* it may exist, half made */
	return ret;
}

int container_remove(const struct config *cfg, const char *name)
{
	char *argv[] = { (char *)cfg->docker, "rm", "--force", "--volumes", (char *)name, NULL };
	struct child c = CHILD_INIT;
	char msg[256];
	int64_t deadline = mono_ms() + DOCKER_TIMEOUT_MS;
	int ret = -1;

	c.out.limit = 256;
	c.err.limit = 1024;
	if (child_spawn(&c, cfg->docker, argv, msg, sizeof(msg))) {
		log_msg("%s", msg);
		goto out;
	}
	if (child_pump(&c, deadline, 0, NULL) != PUMP_EOF || child_wait(&c, deadline) ||
	    !WIFEXITED(c.status)) {
		log_msg("docker rm %s did not finish in time; the sweep will remove it", name);
		goto out;
	}
	/* Another process removing it at the same time, or gone already: gone, or going. */
	if (WEXITSTATUS(c.status) == 0 ||
	    (c.err.buf && (strstr(c.err.buf, "already in progress") ||
			   strstr(c.err.buf, "No such container")))) {
		ret = 0;
		goto out;
	}
	log_msg("docker rm %s failed (%s); the sweep will remove it", name,
		c.err.buf ? c.err.buf : "no message");
out:
	child_release(&c);
	return ret;
}

int container_running(const struct config *cfg, const char *name)
{
	char *argv[] = { (char *)cfg->docker, "inspect", "--type", "container", "--format",
			 "{{.State.Running}}", (char *)name, NULL };
	char out[64];
	int r = spawn_capture(cfg->docker, argv, DOCKER_TIMEOUT_MS, out, sizeof(out));

	if (r < 0 || (r != 0 && !out[0]))
		return r == 1 ? 0 : -1; /* inspect exits 1 for a container that is gone */
	return !strncmp(out, "true", 4);
}

static long long read_number(const char *dir, const char *file, const char *field)
{
	char path[PATH_MAX], line[256];
	long long v = -1;
	size_t flen = field ? strlen(field) : 0;
	FILE *f;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path))
		return -1;
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!field) {
			v = strtoll(line, NULL, 10);
			break;
		}
		if (!strncmp(line, field, flen) && line[flen] == ' ') {
			v = strtoll(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* The cgroup directory of a container: controller "" for cgroup v2; systemd or cgroupfs driver. */
static void cgroup_dir(char *buf, size_t len, const char *root, const char *controller,
		       const char *id, int systemd)
{
	if ((size_t)snprintf(buf, len, "%s%s%s/%s%s%s", root, *controller ? "/" : "", controller,
			     systemd ? "system.slice/docker-" : "docker/", id,
			     systemd ? ".scope" : "") >= len)
		buf[0] = '\0';
}

void container_figures(const struct config *cfg, const char *id, struct figures *f)
{
	char mem[PATH_MAX], cpu[PATH_MAX];
	int systemd;

	f->memory_peak = f->cpu_ns = f->oom_kills = -1;
	for (systemd = 0; systemd < 2; systemd++) { /* cgroup v1 */
		cgroup_dir(mem, sizeof(mem), cfg->cgroup_root, "memory", id, systemd);
		if (access(mem, F_OK))
			continue;
		cgroup_dir(cpu, sizeof(cpu), cfg->cgroup_root, "cpuacct", id, systemd);
		f->memory_peak = read_number(mem, "memory.max_usage_in_bytes", NULL);
		f->oom_kills = read_number(mem, "memory.oom_control", "oom_kill");
		f->cpu_ns = read_number(cpu, "cpuacct.usage", NULL);
		return;
	}
	for (systemd = 0; systemd < 2; systemd++) { /* cgroup v2 */
		long long usec;

		cgroup_dir(mem, sizeof(mem), cfg->cgroup_root, "", id, systemd);
		if (access(mem, F_OK))
			continue;
		f->memory_peak = read_number(mem, "memory.peak", NULL);
		f->oom_kills = read_number(mem, "memory.events", "oom_kill");
		usec = read_number(mem, "cpu.stat", "usage_usec");
		f->cpu_ns = usec < 0 ? -1 : usec * 1000;
		return;
	}
}
