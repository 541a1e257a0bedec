/* container.c - docker run/exec/rm argv and calls for a sandbox container; its cgroup figures. */
#include "container.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "spawn.h"

/*
 * What docker exec runs: print the start mark (one byte, CONTAINER_START_MARK) on stdout and on
 * stderr to say the program is starting, then run it with no environment but PATH, under a KILL
 * backstop so that a program whose supervisor died still ends by itself. What docker itself says
 * before the program starts comes before the mark on stderr. The positional parameters: the
 * backstop's seconds, then the run command's words.
 */
#define LAUNCHER "printf '\\036' && printf '\\036' >&2 && exec env -i PATH=/usr/bin:/bin timeout -s KILL \"$@\""
/*
 * For a compiled language, first: the compile mark on stderr, the compile (its command split at
 * spaces, no globbing) with /build as its TMPDIR, no input and its own time limit, its messages
 * (less the marks' bytes, at most COMPILE_OUTPUT_MAX + 1 bytes) and "\034<ms>\034" on stderr; a
 * failed compile ends there with the compiler's exit status. The positional parameters: the
 * compile command, its seconds, then the launcher's.
 */
#define COMPILE_OUTPUT_READ "65537" /* COMPILE_OUTPUT_MAX + 1 */
#define COMPILE_LAUNCHER \
	"c=$1 t=$2; shift 2; printf '\\035' >&2; set -f; s=$(date +%s%N); " \
	"env -i PATH=/usr/bin:/bin TMPDIR=/build timeout -s KILL $t $c </dev/null >/build/.compile 2>&1; " \
	"r=$?; e=$(date +%s%N); head -c " COMPILE_OUTPUT_READ " /build/.compile | tr -d '\\034\\035\\036' >&2; " \
	"printf '\\034%d\\034' $(( (e - s) / 1000000 )) >&2; [ $r -eq 0 ] || exit $r; " LAUNCHER
#define DOCKER_TIMEOUT_MS 15000
/* A pre-started language's container: its main process starts the run command and waits for
 * the run's docker exec of the same program, which prints the start marks and brings the run's
 * streams (images/attach.c). */
#define ATTACH "/usr/lib/sce/attach"

void container_init(struct container *ct, const struct config *cfg, const struct language *lang)
{
	unsigned char r[8];
	size_t i;
	int o;

	memset(ct, 0, sizeof(*ct));
	ct->lang = lang;
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		/* no randomness: the pid tells processes apart, a count and the clock this one's */
		static unsigned count;
		uint64_t v = (uint64_t)mono_ms() << 16 ^ ++count;

		memcpy(r, &v, sizeof(r));
	}
	o = snprintf(ct->name, sizeof(ct->name), "sce-%s-%ld-", cfg->instance, (long)getpid());
	for (i = 0; i < sizeof(r) && o > 0 && (size_t)o + 2 < sizeof(ct->name); i++)
		o += snprintf(ct->name + o, sizeof(ct->name) - (size_t)o, "%02x", r[i]);
}

/* The host's directory of a container: <state_dir>/code/<name>; -1 when too long. */
static int dir_of(const struct config *cfg, const char *name, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/code/%s", cfg->state_dir, name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

void container_create_argv(struct docker_argv *a, const struct config *cfg,
			   const struct container *ct)
{
	const struct language *l = ct->lang;
	char dir[PATH_MAX];
	size_t n = 0;

	snprintf(a->label, sizeof(a->label), "org.safe-code-executor.instance=%s", cfg->instance);
	snprintf(a->language, sizeof(a->language), "org.safe-code-executor.language=%s", l->name);
	snprintf(a->memory, sizeof(a->memory), "%dm", l->memory_mb);
	snprintf(a->pids, sizeof(a->pids), "%d", l->pids_limit);
	snprintf(a->nofile, sizeof(a->nofile), "nofile=%d:%d", cfg->nofile, cfg->nofile);
	snprintf(a->fsize, sizeof(a->fsize), "fsize=%lld:%lld", (long long)cfg->fsize_kb * 1024,
		 (long long)cfg->fsize_kb * 1024);
	snprintf(a->seccomp, sizeof(a->seccomp), "seccomp=%s", cfg->seccomp_profile);
	if (l->prestart)
		snprintf(a->idle, sizeof(a->idle), "%d", IDLE_SECONDS);
	else
		snprintf(a->idle, sizeof(a->idle), "exec sleep %d", IDLE_SECONDS);
	snprintf(a->backstop, sizeof(a->backstop), "%d", l->timeout_s + RUN_BACKSTOP_S);
	/* where the engine finds the directory (the service may see it elsewhere) */
	if ((size_t)snprintf(dir, sizeof(dir), "%s/code/%s",
			     cfg->engine_state_dir[0] ? cfg->engine_state_dir : cfg->state_dir,
			     ct->name) >= sizeof(dir))
		dir[0] = '\0'; /* docker refuses the mount: the container is not made */
	snprintf(a->mount, sizeof(a->mount), "type=bind,source=%s,target=/code,readonly", dir);
	snprintf(a->build, sizeof(a->build), "/build:rw,exec,nosuid,nodev,size=%dm,uid=65534,gid=65534,mode=0700",
		 l->build_mb);

#define ARG(s) (a->argv[n++] = (char *)(s))
	ARG(cfg->docker);
	ARG("run");
	ARG("--detach");
	ARG("--name"); ARG(ct->name);
	ARG("--label"); ARG(a->label);
	ARG("--label"); ARG(a->language);
	ARG("--runtime"); ARG(cfg->runtime);
	ARG("--pull"); ARG("never");
	ARG("--log-driver"); ARG("none");
	ARG("--network"); ARG("none");
	ARG("--read-only");
	ARG("--ipc"); ARG("none"); /* and so no /dev/shm */
	ARG("--mount"); ARG("type=tmpfs,destination=/dev/mqueue,readonly,tmpfs-size=4096");
	ARG("--mount"); ARG(a->mount);
	if (LANGUAGE_COMPILED(l)) {
		ARG("--tmpfs"); ARG(a->build);
	}
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
	ARG("--workdir"); ARG("/code");
	ARG("--hostname"); ARG("sandbox");
	if (l->prestart) {
		ARG("--entrypoint"); ARG(ATTACH);
		ARG(l->image);
		ARG("--wait"); ARG(a->idle); ARG(a->backstop);
		/* the table's words: at most 31 (languages.c checks), and room is left for them */
		language_argv(l->run, a->words, sizeof(a->words), a->argv + n, 32);
		return;
	}
	ARG("--entrypoint"); ARG("/bin/sh");
	ARG(l->image);
	ARG("-c"); ARG(a->idle);
	a->argv[n] = NULL;
#undef ARG
}

void container_exec_argv(struct docker_argv *a, const struct config *cfg,
			 const struct container *ct)
{
	const struct language *l = ct->lang;
	size_t n = 0;

	snprintf(a->backstop, sizeof(a->backstop), "%d", l->timeout_s + RUN_BACKSTOP_S);
	snprintf(a->compile_timeout, sizeof(a->compile_timeout), "%d", l->compile_timeout_s);
	a->argv[n++] = (char *)cfg->docker;
	a->argv[n++] = "exec";
	a->argv[n++] = "--interactive";
	a->argv[n++] = (char *)ct->name;
	if (l->prestart) {
		a->argv[n++] = ATTACH;
		a->argv[n] = NULL;
		return;
	}
	a->argv[n++] = "/bin/sh";
	a->argv[n++] = "-c";
	if (LANGUAGE_COMPILED(l)) {
		a->argv[n++] = COMPILE_LAUNCHER;
		a->argv[n++] = "sh";
		a->argv[n++] = (char *)l->compile;
		a->argv[n++] = a->compile_timeout;
	} else {
		a->argv[n++] = LAUNCHER;
		a->argv[n++] = "sh";
	}
	a->argv[n++] = a->backstop;
	/* the table's words: at most 31 (languages.c checks), and room is left for them */
	language_argv(l->run, a->words, sizeof(a->words), a->argv + n, 32);
}

void container_failure(const struct config *cfg, const struct language *lang,
		       const char *docker_err, char *err, size_t errlen)
{
	(void)cfg;
	if (docker_err && strstr(docker_err, "No such image"))
		snprintf(err, errlen, "sandbox image %s is not available: build it with make images",
			 lang->image);
	else if (docker_err && strstr(docker_err, "Cannot connect to the Docker daemon"))
		snprintf(err, errlen, "sandbox unavailable: the Docker engine is not running");
	else
		snprintf(err, errlen, "sandbox unavailable: the container did not start");
	log_msg("container for %s: %s", lang->name, docker_err ? docker_err : "(no message)");
}

int container_create(const struct config *cfg, struct container *ct, char *err, size_t errlen)
{
	struct docker_argv a;
	struct child c = CHILD_INIT;
	char msg[256];
	int ret = -1;
	char dir[PATH_MAX];
	size_t len;

	if (dir_of(cfg, ct->name, dir, sizeof(dir)) || mkdir(dir, 0755)) {
		/* nothing made (and a directory there is another's): nothing to remove */
		log_msg("cannot make %s/code/%s: %s", cfg->state_dir, ct->name, strerror(errno));
		snprintf(err, errlen, "service unavailable: cannot prepare a container");
		return -1;
	}
	if (chmod(dir, 0755)) { /* readable by the sandbox's user, whatever the umask */
		log_msg("cannot make %s readable: %s", dir, strerror(errno));
		snprintf(err, errlen, "service unavailable: cannot prepare a container");
		goto out;
	}
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
	if (ret && container_remove(cfg, ct->name)) /* it may exist, half made */
		container_dir_remove(cfg, ct->name); /* (a container left is the sweep's) */
	return ret;
}

/* Runs `docker rm --force --volumes` of n names into c (its stderr kept); 0 once docker has
 * ended (c->status), -1 when it could not be run or did not end in time (logged). */
static int docker_rm(const struct config *cfg, const char *const *names, int n, struct child *c)
{
	char **argv = calloc((size_t)n + 5, sizeof(*argv)), msg[256];
	int64_t deadline = mono_ms() + DOCKER_TIMEOUT_MS;
	int i, ret = -1;

	if (!argv)
		return -1;
	argv[0] = (char *)cfg->docker;
	argv[1] = "rm";
	argv[2] = "--force";
	argv[3] = "--volumes";
	for (i = 0; i < n; i++)
		argv[4 + i] = (char *)names[i];
	c->out.limit = 4096;
	c->err.limit = 4096;
	if (child_spawn(c, cfg->docker, argv, msg, sizeof(msg)))
		log_msg("%s", msg);
	else if (child_pump(c, deadline, 0, NULL) != PUMP_EOF || child_wait(c, deadline) ||
		 !WIFEXITED(c->status))
		log_msg("docker rm of %d container(s) (%s...) did not finish in time; the sweep will "
			"remove them", n, names[0]);
	else
		ret = 0;
	free(argv);
	return ret;
}

int container_remove(const struct config *cfg, const char *name)
{
	struct child c = CHILD_INIT;
	int ret = -1;

	if (docker_rm(cfg, &name, 1, &c))
		goto out;
	/* Another process removing it at the same time, or gone already: gone, or going. */
	if (WEXITSTATUS(c.status) == 0 ||
	    (c.err.buf && (strstr(c.err.buf, "already in progress") ||
			   strstr(c.err.buf, "No such container")))) {
		ret = container_dir_remove(cfg, name);
		goto out;
	}
	log_msg("docker rm %s failed (%s); the sweep will remove it", name,
		c.err.buf ? c.err.buf : "no message");
out:
	child_release(&c);
	return ret;
}

int container_remove_all(const struct config *cfg, const char *const *names, int n)
{
	struct child c = CHILD_INIT;
	int ret = docker_rm(cfg, names, n, &c) == 0 && WEXITSTATUS(c.status) == 0 ? 0 : -1;

	child_release(&c);
	return ret;
}

int container_dir_remove(const struct config *cfg, const char *name)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int ret = -1;

	if (dir_of(cfg, name, dir, sizeof(dir)))
		return -1;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	if (!rmdir(dir) || errno == ENOENT)
		ret = 0;
	else
		log_msg("cannot remove %s: %s", dir, strerror(errno));
	return ret;
}

int container_put_program(const struct config *cfg, const struct container *ct, const char *code,
			  size_t len)
{
	char path[PATH_MAX];
	size_t done = 0;
	ssize_t w = 0;
	int fd = -1, ret = -1;

	if (dir_of(cfg, ct->name, path, sizeof(path)) ||
	    strlen(path) + 1 + strlen(ct->lang->file) >= sizeof(path))
		goto out;
	strcat(strcat(path, "/"), ct->lang->file);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || fchmod(fd, 0644))
		goto out;
	while (done < len && (w = write(fd, code + done, len - done)) > 0)
		done += (size_t)w;
	if (done == len)
		ret = 0;
out:
	if (ret)
		log_msg("cannot write the program to %s: %s", path, strerror(errno));
	if (fd >= 0 && close(fd) && !ret) {
		log_msg("cannot write the program to %s: %s", path, strerror(errno));
		ret = -1;
	}
	return ret;
}

int container_list(const struct config *cfg, char *buf, size_t len)
{
	char label[160];
	char *argv[] = { (char *)cfg->docker, "ps", "--all", "--no-trunc", "--filter", label,
			 "--format", "{{.Names}} {{.State}}", NULL };

	snprintf(label, sizeof(label), "label=org.safe-code-executor.instance=%s", cfg->instance);
	buf[0] = '\n';
	if (spawn_capture(cfg->docker, argv, DOCKER_TIMEOUT_MS, buf + 1, len - 2) != 0 ||
	    strlen(buf + 1) >= len - 3) /* full: maybe cut */
		return -1;
	strcat(buf, "\n");
	return 0;
}

int container_engine_ok(const struct config *cfg)
{
	char *argv[] = { (char *)cfg->docker, "version", "--format", "{{.Server.Version}}", NULL };
	char out[256];

	return spawn_capture(cfg->docker, argv, 5000, out, sizeof(out)) == 0;
}

/* The version label of one image into version: 1 present, 0 missing, -1 docker can't say. */
static int image_version(const struct config *cfg, const char *image, char *version, size_t len)
{
	char *argv[] = { (char *)cfg->docker, "image", "inspect", "--format",
			 "{{index .Config.Labels \"" IMAGE_VERSION_LABEL "\"}}", (char *)image, NULL };
	char out[256];
	int r = spawn_capture(cfg->docker, argv, 5000, out, sizeof(out));

	out[strcspn(out, "\n")] = '\0';
	if (r == 0 && strcmp(out, "<no value>"))
		snprintf(version, len, "%.*s", (int)len - 1, out);
	return r == 0 ? 1 : r == 1 ? 0 : -1;
}

int container_images(const struct config *cfg, char (*versions)[32])
{
	int i, j, all = 1;

	for (i = 0; i < cfg->langs.n; i++) {
		const char *image = cfg->langs.list[i].image;
		char version[32] = "";
		int r;

		for (j = 0; j < i && strcmp(cfg->langs.list[j].image, image); j++)
			;
		if (j < i) { /* asked already */
			if (versions)
				memcpy(versions[i], versions[j], sizeof(versions[i]));
			continue;
		}
		r = image_version(cfg, image, version, sizeof(version));
		if (r < 0)
			return -1;
		all &= r;
		if (versions)
			memcpy(versions[i], version, sizeof(versions[i]));
	}
	return all;
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

/* Reads a container's figures from the cgroup layout `layout` (0, 1: v1 with the cgroupfs or the
 * systemd driver; 2, 3: v2 with either); 0, or -1 when the container's cgroup is not there. */
static int figures_in(const struct config *cfg, const char *id, int layout, struct figures *f)
{
	char mem[PATH_MAX], cpu[PATH_MAX];
	int systemd = layout % 2;
	long long usec;

	cgroup_dir(mem, sizeof(mem), cfg->cgroup_root, layout < 2 ? "memory" : "", id, systemd);
	if (access(mem, F_OK))
		return -1;
	if (layout < 2) {
		cgroup_dir(cpu, sizeof(cpu), cfg->cgroup_root, "cpuacct", id, systemd);
		f->memory_peak = read_number(mem, "memory.max_usage_in_bytes", NULL);
		f->oom_kills = read_number(mem, "memory.oom_control", "oom_kill");
		f->cpu_ns = read_number(cpu, "cpuacct.usage", NULL);
		return 0;
	}
	f->memory_peak = read_number(mem, "memory.peak", NULL);
	f->oom_kills = read_number(mem, "memory.events", "oom_kill");
	usec = read_number(mem, "cpu.stat", "usage_usec");
	f->cpu_ns = usec < 0 ? -1 : usec * 1000;
	return 0;
}

void container_figures(const struct config *cfg, const char *id, struct figures *f)
{
	static int found = -1; /* the layout found once: the host's stays as it is */
	int layout;

	f->memory_peak = f->cpu_ns = f->oom_kills = -1;
	if (found >= 0 && !figures_in(cfg, id, found, f))
		return;
	for (layout = 0; layout < 4; layout++)
		if (layout != found && !figures_in(cfg, id, layout, f)) {
			found = layout;
			return;
		}
}
