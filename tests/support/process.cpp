#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <system_error>

extern char** environ;

namespace kabar::test {

Process::Process(std::vector<std::string> argv) {
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_fd_ = out_pipe[0];
  err_fd_ = err_pipe[0];
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "spawn " + argv[0]);
}

Process::~Process() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  close(out_fd_);
  close(err_fd_);
}

void Process::pump(std::chrono::milliseconds max_wait) {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  if (poll(fds, 2, static_cast<int>(max_wait.count())) <= 0) return;
  char buffer[65536];
  for (auto& fd : fds) {
    if ((fd.revents & (POLLIN | POLLHUP)) == 0) continue;
    const auto n = read(fd.fd, buffer, sizeof buffer);
    if (n > 0) (fd.fd == out_fd_ ? out_ : err_).append(buffer, static_cast<std::size_t>(n));
  }
}

bool Process::wait_for_output(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (out_.find(needle) == std::string::npos) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) return false;
    if (status_ || wait(0ms)) {  // exited: read what is left, then give up
      pump(0ms);
      return out_.find(needle) != std::string::npos;
    }
    pump(std::min(left, std::chrono::milliseconds(50)));
  }
  return true;
}

void Process::signal(int signal_number) const {
  ::kill(pid_, signal_number);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!status_) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (Clock::now() >= deadline) return std::nullopt;
    pump(10ms);
  }
  // Drain what is left in the pipes.
  for (std::size_t before = out_.size() + err_.size() + 1; before != out_.size() + err_.size();) {
    before = out_.size() + err_.size();
    pump(0ms);
  }
  return status_;
}

RunResult run(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  Process process(std::move(argv));
  const auto status = process.wait(timeout);
  return {status.value_or(-1), process.out(), process.err()};
}

}  // namespace kabar::test
