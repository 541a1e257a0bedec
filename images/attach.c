/*
 * attach.c - /usr/lib/sce/attach in every sandbox image (build-images.sh compiles it, static):
 * the two ends of a pre-started interpreter (languages.conf: prestart = yes).
 *
 *   attach --wait IDLE_S BACKSTOP_S COMMAND...     the container's main process
 *     Starts COMMAND at once (in the process group of a leader that only waits, as timeout's
 *     child is in timeout's; no environment but PATH) with pipes as
 *     its stdin, stdout and stderr, and at descriptor 3 a pipe it must read one byte from before
 *     it reads its program. Then waits, at most IDLE_S seconds (then it ends, and the container
 *     with it), for one connection on the abstract Unix socket "@sce-attach", which brings three
 *     descriptors: the stdin, stdout and stderr of the run. It sends COMMAND the byte, relays
 *     between those and COMMAND's pipes until COMMAND has ended and its output is passed on
 *     (SIGKILL to its process group once BACKSTOP_S have passed; its streams are let go 2 s
 *     after it ended, as docker exec does), sends COMMAND's wait status back, and stays (as an
 *     idle container's sleep does) until the container is removed, or IDLE_S after its start.
 *   attach                                         what the run's docker exec runs
 *     Connects (trying for up to 5 s: the container may be just made), prints the start mark
 *     (\036) on stdout and on stderr, hands its descriptors 0, 1 and 2
 *     over, waits for the status, and ends the same way: the same exit code, or the same
 *     signal (137 for a SIGKILL, as docker exec says). With no status (the waiting side died),
 *     it ends as killed.
 * Neither can be read or written through /proc by the program (not dumpable).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NAME "sce-attach"
#define START_MARK "\036"
#define RELAY_BUF 65536
#define CONNECT_TRIES 1000 /* 5 ms apart */
#define SEND_WAIT_S 5      /* for attach's descriptors, once it has connected */
#define DRAIN_MS 2000      /* for the streams once the command has ended (as docker exec) */

static volatile sig_atomic_t child;   /* COMMAND's pid */
static volatile sig_atomic_t group;   /* its process group's: a leader that only waits */
static int wake[2] = { -1, -1 };       /* written to on SIGCHLD, read in the poll loops */
static volatile sig_atomic_t ended_all; /* the run is over: SIGALRM ends the wait */

static void on_chld(int sig)
{
	int saved = errno;

	(void)sig;
	if (write(wake[1], "c", 1) < 0) {
		/* full: a wake is pending already */
	}
	errno = saved;
}

static void on_alarm(int sig)
{
	(void)sig;
	if (ended_all)
		_exit(0);
	if (group > 0)
		kill(-group, SIGKILL);
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Handlers that interrupt a blocking call (no SA_RESTART). */
static void catch(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void address(struct sockaddr_un *sa, socklen_t *len)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path + 1, NAME, sizeof(NAME) - 1); /* sun_path[0] 0: abstract */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + sizeof(NAME) - 1);
}

/* One byte with room for three descriptors (SCM_RIGHTS): what sendmsg and recvmsg take. */
struct rights {
	struct msghdr m;
	struct iovec iov;
	char one;
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} u;
};

static struct msghdr *rights_init(struct rights *r)
{
	memset(r, 0, sizeof(*r));
	r->one = 'a';
	r->iov.iov_base = &r->one;
	r->iov.iov_len = 1;
	r->m.msg_iov = &r->iov;
	r->m.msg_iovlen = 1;
	r->m.msg_control = r->u.buf;
	r->m.msg_controllen = sizeof(r->u.buf);
	return &r->m;
}

/* Empties the SIGCHLD wake pipe (non-blocking). */
static void drain_wake(void)
{
	char drain[16];

	while (read(wake[0], drain, sizeof(drain)) > 0)
		;
}

/* ---- attach (the exec'd side) ---- */

static int attach(void)
{
	struct rights r;
	struct sockaddr_un sa;
	struct msghdr *m = rights_init(&r);
	struct cmsghdr *c;
	socklen_t len;
	struct timespec pause = { 0, 5 * 1000 * 1000 };
	int fd, status, fds[3] = { 0, 1, 2 }, tries = 0;
	ssize_t n;

	prctl(PR_SET_DUMPABLE, 0);
	address(&sa, &len);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 126;
	/* a container just made: its main process may not listen yet */
	while (connect(fd, (struct sockaddr *)&sa, len)) {
		if ((errno != ECONNREFUSED && errno != EINTR) || tries++ == CONNECT_TRIES) {
			fprintf(stderr, "attach: no interpreter waiting: %s\n", strerror(errno));
			return 126;
		}
		nanosleep(&pause, NULL);
	}
	if (write(1, START_MARK, 1) != 1 || write(2, START_MARK, 1) != 1)
		return 126;
	c = CMSG_FIRSTHDR(m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	if (sendmsg(fd, m, MSG_NOSIGNAL) != 1)
		raise(SIGKILL);
	/* the run's streams are the interpreter's now: they end when it ends */
	close(0);
	close(1);
	close(2);
	while ((n = recv(fd, &status, sizeof(status), 0)) < 0 && errno == EINTR)
		;
	if (n != (ssize_t)sizeof(status) || !(WIFEXITED(status) || WIFSIGNALED(status)))
		raise(SIGKILL);
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	{
		sigset_t one_sig;

		sigemptyset(&one_sig);
		sigaddset(&one_sig, WTERMSIG(status));
		signal(WTERMSIG(status), SIG_DFL);
		sigprocmask(SIG_UNBLOCK, &one_sig, NULL);
		raise(WTERMSIG(status));
	}
	raise(SIGKILL); /* a signal that does not end a process by default */
	return 137;
}

/* ---- the waiting side ---- */

/* One direction of the relay: from src to dst through buf. */
struct flow {
	int src, dst;
	char *buf;
	size_t len, off;
};

static void flow_close(struct flow *f)
{
	if (f->src >= 0)
		close(f->src);
	if (f->dst >= 0)
		close(f->dst);
	f->src = f->dst = -1;
	f->len = f->off = 0;
}

/* A flow is done when its source has ended and what it read is written (or cannot be). */
static int flow_done(const struct flow *f)
{
	return f->src < 0 && f->len == f->off;
}

/* Moves what poll said is ready: a read into the empty buffer, or a write of what it holds.
 * At the source's end the destination is closed once written; when the destination is gone,
 * the source is closed too (the writer gets EPIPE, as it would have without the relay). */
static void flow_move(struct flow *f, short src_ev, short dst_ev)
{
	ssize_t n;

	if (f->len == f->off && (src_ev & (POLLIN | POLLHUP | POLLERR))) {
		n = read(f->src, f->buf, RELAY_BUF);
		if (n > 0) {
			f->len = (size_t)n;
			f->off = 0;
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			close(f->src);
			f->src = -1;
		}
	}
	if (f->len > f->off && (dst_ev & (POLLOUT | POLLERR | POLLHUP))) {
		n = write(f->dst, f->buf + f->off, f->len - f->off);
		if (n > 0)
			f->off += (size_t)n;
		else if (errno != EAGAIN && errno != EINTR)
			flow_close(f);
	}
	if (f->len == f->off)
		f->len = f->off = 0;
	if (f->src < 0 && f->len == 0 && f->dst >= 0) {
		close(f->dst);
		f->dst = -1;
	}
}

/* Starts the command with pipes as 0, 1, 2 and the go pipe at 3; its pid, or -1. The other
 * ends are put in ours[0..3] (stdin's write end, stdout's and stderr's read ends, go's write
 * end). */
static pid_t start(char **argv, int ours[4])
{
	static char *env[] = { "PATH=/usr/bin:/bin", NULL };
	int p[4][2], i, theirs[4];
	sigset_t all;
	pid_t pid;

	/* As under timeout: the command is not a group leader (so setsid() works for it), and the
	 * backstop kills its group, its descendants with it. The leader is made first: it must
	 * hold none of the pipes (an end it held would never see its end of file). */
	group = fork();
	if (group == 0) {
		close(wake[0]);
		close(wake[1]);
		setpgid(0, 0);
		for (;;)
			pause();
	}
	if (group < 0)
		return -1;
	setpgid(group, group);
	for (i = 0; i < 4; i++)
		if (pipe2(p[i], O_CLOEXEC))
			return -1;
	/* the child's ends: it reads stdin and go, writes stdout and stderr */
	theirs[0] = p[0][0], ours[0] = p[0][1];
	theirs[1] = p[1][1], ours[1] = p[1][0];
	theirs[2] = p[2][1], ours[2] = p[2][0];
	theirs[3] = p[3][0], ours[3] = p[3][1];
	pid = fork();
	if (pid == 0) {
		setpgid(0, group);
		for (i = 0; i < 4; i++)
			if (dup2(theirs[i], 100 + i) < 0)
				_exit(127);
		for (i = 0; i < 4; i++)
			if (dup2(100 + i, i) < 0)
				_exit(127);
		for (i = 0; i < 4; i++)
			close(100 + i);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		/* found as `env -i PATH=/usr/bin:/bin COMMAND` finds it */
		setenv("PATH", env[0] + 5, 1);
		execvpe(argv[0], argv, env);
		_exit(127);
	}
	for (i = 0; i < 4; i++)
		close(theirs[i]);
	return pid;
}

/* Waits for the connection and takes its three descriptors into run[]; 0, or -1 when the
 * command ended first (or the socket failed, or what came was not attach's three). Once
 * connected, the name stays taken by a socket that listens to nobody: no second connection,
 * and the program cannot take the name. */
static int take_run(int *conn, int run[3])
{
	struct rights r;
	struct sockaddr_un sa;
	struct msghdr *m = rights_init(&r);
	struct cmsghdr *c;
	struct pollfd pfd[2];
	socklen_t len;
	struct timeval wait = { SEND_WAIT_S, 0 };
	int lfd, hold, status;
	size_t got, i;
	ssize_t n;

	address(&sa, &len);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, len) || listen(lfd, 1))
		return -1;
	pfd[0].fd = lfd;
	pfd[0].events = POLLIN;
	pfd[1].fd = wake[0];
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return -1;
		if (waitpid(child, &status, WNOHANG) == child)
			return -1; /* the interpreter died waiting: the container ends */
		if (pfd[1].revents & POLLIN)
			drain_wake();
		if (!(pfd[0].revents & POLLIN))
			continue;
		*conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (*conn >= 0)
			break;
	}
	alarm(0); /* no idle end now: the run has come */
	close(lfd);
	hold = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (hold < 0 || bind(hold, (struct sockaddr *)&sa, len))
		return -1;
	if (setsockopt(*conn, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait)))
		return -1;
	while ((n = recvmsg(*conn, m, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	c = n == 1 ? CMSG_FIRSTHDR(m) : NULL;
	if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
		return -1;
	got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	memcpy(run, CMSG_DATA(c), (got < 3 ? got : 3) * sizeof(int));
	if (got != 3 || (m->msg_flags & MSG_CTRUNC)) {
		for (i = 0; i < got && i < 3; i++)
			close(run[i]);
		return -1;
	}
	return 0;
}

static int wait_side(int idle_s, int backstop_s, char **argv)
{
	struct flow fl[3];
	struct pollfd pfd[7];
	int ours[4] = { -1, -1, -1, -1 }, run[3], conn = -1, status = 0, ended = 0, i, wait_ms;
	int64_t idle_end = now_ms() + (int64_t)idle_s * 1000, drain_end = 0;
	static char bufs[3][RELAY_BUF];

	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	if (pipe2(wake, O_CLOEXEC | O_NONBLOCK))
		return 1;
	catch(SIGCHLD, on_chld);
	catch(SIGALRM, on_alarm);
	child = start(argv, ours);
	if (child < 0)
		return 1;
	alarm((unsigned)idle_s);
	if (take_run(&conn, run)) {
		kill(-group, SIGKILL);
		return 1;
	}
	alarm((unsigned)backstop_s);
	if (write(ours[3], "g", 1) != 1) {
		kill(-group, SIGKILL);
		return 1;
	}
	close(ours[3]);
	fl[0] = (struct flow){ run[0], ours[0], bufs[0], 0, 0 };
	fl[1] = (struct flow){ ours[1], run[1], bufs[1], 0, 0 };
	fl[2] = (struct flow){ ours[2], run[2], bufs[2], 0, 0 };
	for (i = 0; i < 3; i++) {
		fcntl(fl[i].src, F_SETFL, fcntl(fl[i].src, F_GETFL) | O_NONBLOCK);
		fcntl(fl[i].dst, F_SETFL, fcntl(fl[i].dst, F_GETFL) | O_NONBLOCK);
	}
	/* Until the command has ended and its stdout and stderr have ended and are passed on; a
	 * descendant that keeps them open gets DRAIN_MS more (as docker exec gives its streams),
	 * then its group is killed and the streams are let go. */
	while (!ended || !flow_done(&fl[1]) || !flow_done(&fl[2])) {
		wait_ms = -1;
		if (ended && (wait_ms = (int)(drain_end - now_ms())) <= 0) {
			kill(-group, SIGKILL);
			break;
		}
		for (i = 0; i < 3; i++) {
			pfd[2 * i].fd = fl[i].len == 0 ? fl[i].src : -1;
			pfd[2 * i].events = POLLIN;
			pfd[2 * i + 1].fd = fl[i].len > 0 ? fl[i].dst : -1;
			pfd[2 * i + 1].events = POLLOUT;
		}
		pfd[6].fd = wake[0];
		pfd[6].events = POLLIN;
		if (poll(pfd, 7, wait_ms) < 0 && errno != EINTR)
			break;
		for (i = 0; i < 3; i++)
			flow_move(&fl[i], pfd[2 * i].revents, pfd[2 * i + 1].revents);
		if (pfd[6].revents & POLLIN)
			drain_wake();
		if (!ended && waitpid(child, &status, WNOHANG) == child) {
			ended = 1;
			drain_end = now_ms() + DRAIN_MS;
			flow_close(&fl[0]); /* its input is no one's now */
		}
	}
	for (i = 0; i < 3; i++)
		flow_close(&fl[i]);
	if (!ended)
		waitpid(child, &status, 0);
	if (send(conn, &status, sizeof(status), MSG_NOSIGNAL) < 0)
		return 1;
	/* This is the container's main process: once it ends, the container stops, and the kernel
	 * kills what is left in it, attach too, maybe before it has passed the status on; and a
	 * container that stopped during a run tells the service that the run was cut short. So it
	 * stays, as an idle container's sleep does, until the container is removed (or IDLE_S). */
	ended_all = 1;
	wait_ms = (int)((idle_end - now_ms()) / 1000);
	alarm(wait_ms > 0 ? (unsigned)wait_ms : 1);
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	if (argc == 1)
		return attach();
	if (argc >= 5 && !strcmp(argv[1], "--wait"))
		return wait_side(atoi(argv[2]), atoi(argv[3]), argv + 4);
	fprintf(stderr, "usage: attach | attach --wait IDLE_S BACKSTOP_S COMMAND...\n");
	return 2;
}
