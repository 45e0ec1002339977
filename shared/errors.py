"""Domain errors shared by the API and the recorder; the API maps them to HTTP in app/errors.py."""
from __future__ import annotations


class PatrolError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(PatrolError):
    """A config that breaks a rule; ``field`` names the offending key (``streams[1].weight``)."""

    def __init__(self, field: str, reason: str, *, file: str | None = None,
                 line: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.file = file
        self.line = line
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The seed's wording: ``配置验证失败: max_concurrent_streams 必须大于 0``."""
        where = ""
        if self.file:
            where = f" ({self.file}" + (f" 第{self.line}行" if self.line else "") + ")"
        subject = f"{self.field} " if self.field else ""
        return f"配置验证失败: {subject}{self.reason}{where}"

    def to_dict(self) -> dict:
        """The error as shown in the status file and the API."""
        return {"file": self.file, "line": self.line, "field": self.field,
                "reason": self.reason, "message": self.message}


class ConfigSyntaxError(ConfigError):
    """The config file is no JSON (an empty or half-written file reads so too)."""


class ConfigUnavailable(PatrolError):
    """The config file on disk is missing or invalid, so a partial edit has nothing to apply to."""

    def __init__(self, cause: ConfigError) -> None:
        self.cause = cause
        super().__init__(f"配置文件无效, 请先修复或整体替换: {cause.message}")


class WriteError(PatrolError):
    """An atomic write failed; the target file is unchanged."""


class LockTimeout(PatrolError):
    """A coordinated file stayed locked longer than we are willing to wait."""

    def __init__(self, lock_path: str) -> None:
        self.lock_path = lock_path
        super().__init__(f"文件被占用, 请稍后重试: {lock_path}")


class LockUnusable(PatrolError):
    """Something that is no lock file (a directory, say) sits at a lock path; someone must remove it."""

    def __init__(self, lock_path: str, reason: str) -> None:
        self.lock_path = lock_path
        self.reason = reason
        super().__init__(f"锁文件无法使用 ({reason}): {lock_path}")


class UnsafePath(PatrolError):
    """A path given by a client points outside what it may touch."""


class NotFound(PatrolError):
    """A named thing (cycle folder, file, stream index) does not exist."""


class Conflict(PatrolError):
    """The request collides with what the recorder is doing right now."""


class RecorderUnavailable(PatrolError):
    """The recorder daemon's heartbeat is missing or stale."""


class PreconditionFailed(PatrolError):
    """A request's precondition failed: a write's ``If-Match`` that is not config.json's
    current tag (the default message), or a clip's ``If-Match`` or ``If-Unmodified-Since``.

    ``current_tag`` is the file's tag now (None when the file is missing), so
    the client can re-read and retry.
    """

    def __init__(self, current_tag: str | None,
                 message: str = "配置文件已被修改 (If-Match 不匹配), 请重新读取后再提交") -> None:
        self.current_tag = current_tag
        super().__init__(message)
