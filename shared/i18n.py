"""English for the API's Chinese texts: one table of translations, and :func:`translate`.

Chinese stays what every file, log line and default answer carries; the API
adds English beside it when a client asks (app/language.py). A text with
values in it (``参数 limit 只能出现一次``) is matched against a template of the
table (``参数 {name} 只能出现一次``); how a placeholder matches depends on its
name (:data:`_NESTED`, :data:`_NUMBERS`, anything else is copied as it is).
"""
from __future__ import annotations

import re
from collections.abc import Iterator

from shared import task_status as st

# The API's own messages (app/ and the shared errors it answers with).
MESSAGES: tuple[tuple[str, str], ...] = (
    ("配置更新成功", "Config updated"),
    ("全局配置更新成功", "Global config updated"),
    ("流配置添加成功", "Stream added"),
    ("流配置更新成功", "Stream updated"),
    ("流配置删除成功", "Stream removed"),
    ("配置保存成功", "Config saved"),
    ("配置重新加载成功", "Config reloaded"),
    ("配置重新加载失败: {message}", "Reloading the config failed: {message}"),
    ("调度器启动成功", "Scheduler started"),
    ("调度器停止成功", "Scheduler stopped"),
    ("调度器已经在运行中", "The scheduler is already running"),
    ("录制守护进程未运行", "The recorder daemon is not running"),
    ("集群的 Redis 不可达, 请稍后再试", "The cluster's Redis cannot be reached; try again later"),
    ("文件删除成功", "File deleted"),
    ("文件删除失败", "The file could not be deleted"),
    ("目录删除成功", "Folder deleted"),
    ("目录删除失败", "The folder could not be deleted"),
    ("该视频正在录制中, 不能删除", "This clip is being recorded and cannot be deleted"),
    ("该时间戳目录正在录制中, 不能删除",
     "This cycle folder is being recorded and cannot be deleted"),
    ("文件不存在", "No such file"),
    ("时间戳目录不存在: {cycle}", "No such cycle folder: {cycle}"),
    ("无效的流索引: {text}", "Invalid stream index: {text}"),
    ("缺少参数 path", "Missing parameter path"),
    ("参数 order 必须是 oldest 或 newest", "Parameter order must be oldest or newest"),
    ("参数 {name} 必须是 {low} 到 {high} 之间的整数",
     "Parameter {name} must be an integer from {low} to {high}"),
    ("参数 {name} 只能出现一次", "Parameter {name} may be given only once"),
    ("参数 state 必须是 {choices} 之一 (可用逗号分隔多个)",
     "Parameter state must be one of {choices} (several separated by commas)"),
    ("参数 sort 必须是 {choices} 之一 (前加 - 表示倒序)",
     "Parameter sort must be one of {choices} (a leading - sorts in reverse)"),
    ("摄像头不存在: {camera}", "No such camera: {camera}"),
    ("摄像机不存在: {camera}", "No such camera: {camera}"),
    ("摄像机 {camera} 还没有缩略图", "Camera {camera} has no thumbnail yet"),
    ("摄像机 {camera} 还没有参考画面", "Camera {camera} has no reference picture yet"),
    ("参考画面已更新", "Reference picture updated"),
    ("参考画面写入失败", "The reference picture could not be written"),
    ("参考画面读取失败", "The reference picture could not be read"),
    ("不能读取符号链接", "Cannot read through a symlink"),
    ("只能读取时间戳目录中的图片", "Only pictures inside a cycle folder can be read"),
    ("只能读取普通图片文件", "Only regular picture files can be read"),
    ("摄像头 {camera} 正在检查中", "Camera {camera} is being checked already"),
    ("已请求立即检查摄像头", "Camera check requested"),
    ("已请求探测摄像头", "Camera probe requested"),
    ("参数 {name} 必须是 ISO 8601 时间或 Unix 秒数",
     "Parameter {name} must be an ISO 8601 time or Unix seconds"),
    ("参数 {name} 必须是 1 或 0", "Parameter {name} must be 1 or 0"),
    ("请求参数错误", "Bad request"),
    ("请求的资源不存在", "The requested resource does not exist"),
    ("不支持的请求方法", "Method not allowed"),
    ("请求体过大", "Request body too large"),
    ("请求的字节范围超出文件", "The requested byte range is beyond the file"),
    ("文件已被修改 (If-Match 或 If-Unmodified-Since 不满足)",
     "The file has changed (If-Match or If-Unmodified-Since not met)"),
    ("服务器内部错误", "Internal server error"),
    ("请求体不能为空, 需要 JSON 对象", "The request body must not be empty: a JSON object is needed"),
    ("请求体必须是 UTF-8 编码的 JSON", "The request body must be UTF-8 encoded JSON"),
    ("请求体必须是 JSON 对象", "The request body must be a JSON object"),
    ("请求体 JSON 嵌套过深 (最多 {depth} 层)",
     "The request body's JSON is nested too deeply (at most {depth} levels)"),
    ("请求体不是有效的 JSON: 含有无效的 Unicode 字符 (单独的代理项)",
     "The request body is not valid JSON: it holds an invalid Unicode character "
     "(a lone surrogate)"),
    ("请求体不是有效的 JSON: {msg} (第{lineno}行第{colno}列)",
     "The request body is not valid JSON: {msg} (line {lineno}, column {colno})"),
    ("请求体不是有效的 JSON: {error}", "The request body is not valid JSON: {error}"),
    ("不支持的数值 {name}", "unsupported number {name}"),
    ("整数不能超过 {high} 位", "an integer may have {high} digits at most"),
    ("需要有效的 API 令牌 (Authorization: Bearer <token>)",
     "A valid API token is needed (Authorization: Bearer <token>)"),
    ("此地址的错误 API 令牌过多, 请 {seconds} 秒后重试 (控制台登录另行计数, 不受影响)",
     "Too many wrong API tokens from this address: retry in {seconds} s (signing in to the "
     "console is counted apart, not affected)"),
    ("此地址登录时输错令牌次数过多, 请 {seconds} 秒后重试 (API 令牌另行计数, 不受影响)",
     "Too many wrong tokens typed into the sign-in from this address: retry in {seconds} s "
     "(the API's tokens are counted apart, not affected)"),
    ("令牌不正确", "That is not the API token"),
    ("已在此浏览器退出, 但服务器未能记录这次退出: 此登录的其他副本在过期前仍然有效",
     "Signed out in this browser, but the server could not record the sign-out: other copies "
     "of this sign-in stay valid until it expires"),
    ("禁止访问: {detail}", "Forbidden: {detail}"),
    ("只能删除时间戳目录", "Only cycle folders can be deleted"),
    ("只能删除时间戳目录中的视频文件", "Only clips inside cycle folders can be deleted"),
    ("只能删除普通视频文件", "Only regular clip files can be deleted"),
    ("只能读取时间戳目录中的视频文件", "Only clips inside cycle folders can be read"),
    ("只能读取普通视频文件", "Only regular clip files can be read"),
    ("该视频正在录制中, 不能读取", "This clip is being recorded and cannot be read"),
    ("时间戳目录不能是符号链接", "A cycle folder must not be a symbolic link"),
    ("路径无效", "Invalid path"),
    ("路径包含非法字符", "The path contains invalid characters"),
    ("路径不能包含 ..", "The path must not contain .."),
    ("file_path 必须是配置文件所在目录中的文件名 (不含子目录)",
     "file_path must be the name of a file directly in the config file's folder (no subfolder)"),
    ("file_path 不能是符号链接或目录", "file_path must not be a symbolic link or a folder"),
    ("file_path 不能是记录器的状态文件 {name}",
     "file_path must not be one of the recorder's state files: {name}"),
    ("文件被占用, 请稍后重试", "The file is busy, retry shortly"),
    ("文件被占用, 请稍后重试: {path}", "The file is busy, retry shortly: {path}"),
    ("无法写入: 锁文件 {name} 无法使用 ({strerror}), 请管理员删除或修复它",
     "Cannot write: the lock file {name} cannot be used ({strerror}); an administrator "
     "must remove or repair it"),
    ("锁文件无法使用 ({strerror}): {path}", "The lock file cannot be used ({strerror}): {path}"),
    ("写入文件失败", "Writing the file failed"),
    ("写入失败 {path}: {strerror}", "Writing {path} failed: {strerror}"),
    ("配置文件无效, 请先修复或整体替换: {message}",
     "The config file is invalid; fix it or replace it whole first: {message}"),
    ("配置文件已被修改 (If-Match 不匹配), 请重新读取后再提交",
     "The config file has changed (If-Match does not match); read it again, then resubmit"),
    ("输出目录不符合规则, 已拒绝访问: output_directory {problem}",
     "The output folder breaks the rule, access refused: output_directory {problem}"),
    ("录制守护进程意外退出, 任务中断", "The recorder daemon exited unexpectedly; task interrupted"),
    # A ConfigError's message (shared/errors.py); the shorter forms first.
    ("配置验证失败: {reason}", "Config validation failed: {reason}"),
    ("配置验证失败: {field} {reason}", "Config validation failed: {field} {reason}"),
    ("配置验证失败: {reason} ({file} 第{line}行)",
     "Config validation failed: {reason} ({file} line {line})"),
    ("配置验证失败: {reason} ({file})", "Config validation failed: {reason} ({file})"),
    ("配置验证失败: {field} {reason} ({file} 第{line}行)",
     "Config validation failed: {field} {reason} ({file} line {line})"),
    ("配置验证失败: {field} {reason} ({file})",
     "Config validation failed: {field} {reason} ({file})"),
)

# The config rules' reasons (shared/config*.py, output_rule.py, urls.py, credentials.py).
REASONS: tuple[tuple[str, str], ...] = (
    ("必须是整数", "must be an integer"),
    ("必须大于 0", "must be greater than 0"),
    ("必须大于 0 ({note})", "must be greater than 0 ({note})"),
    ("必须大于等于 {low}", "must be at least {low}"),
    ("必须大于等于 {low} ({note})", "must be at least {low} ({note})"),
    ("0 表示不限制", "0 means no limit"),
    ("0 表示不提醒", "0 means no reminders"),
    ("必须是有限数字", "must be a finite number"),
    ("必须在 0 到 {high} 之间", "must be between 0 and {high}"),
    ("0 表示永久保留", "0 means keep forever"),
    ("必须是 http:// 或 https:// 网址", "must be an http:// or https:// URL"),
    ("必须是 http:// 或 https:// 开头的网址 (不含用户名、? 和 #)",
     "must be an http:// or https:// URL (no user name, ? or #)"),
    ("必须是通知网址 (如 dingtalk://…, mailto://…)",
     "must be a notification URL (e.g. dingtalk://…, mailto://…)"),
    ("必须是 1 到 {high} 个字符的字符串", "must be a string of 1 to {high} characters"),
    ("不能含有控制字符或无效的 Unicode 字符",
     "must not contain control characters or invalid Unicode"),
    ("不能只含空白字符", "must not be only white space"),
    ("不能只含空白或不可见的字符", "must not be only white space or invisible characters"),
    ("不能含有不可见的格式字符 (U+{code})",
     "must not contain invisible format characters (U+{code})"),
    ("必须是 true 或 false", "must be true or false"),
    ("含有隐藏的密钥 (***), 但找不到已保存的值; 请填写完整",
     "holds a masked secret (***) but no stored value was found; give it in full"),
    ("含有隐藏的密钥 (***), 但有几个已保存的接收者看起来相同, 无法确定是哪一个; 请填写完整地址",
     "holds a masked secret (***) but several stored receivers look the same and it cannot be"
     " told which one it is; give the full URL"),
    ("含有隐藏的密钥 (***), 但不是读取时的样子, 找不到对应的已保存地址; 请填写完整地址",
     "holds a masked secret (***) but not as it was read, so no stored URL matches it;"
     " give the full URL"),
    ("是隐藏的密钥 (***), 但网址是新的, 看起来相同的已保存接收者的密钥各不相同, 无法确定是哪一个; 请填写完整的密钥",
     "is a masked secret (***), but its URL is new and the stored receivers that look the same"
     " have different secrets, so it cannot be told which one it is; give the secret in full"),
    ("不能大于 {high}", "must not be greater than {high}"),
    ("必须为 -1 (无限循环) 或大于等于 1", "must be -1 (loop forever) or at least 1"),
    ("必须是数字", "must be a number"),
    ("必须是大于 0 的有限数字", "must be a finite number greater than 0"),
    ("必须是 {options} 之一", "must be one of {options}"),
    ("必须是非空字符串", "must be a non-empty string"),
    ("必须是字符串", "must be a string"),
    ("必须是 JSON 对象", "must be a JSON object"),
    ("必须是 redis://, rediss:// 或 unix:// 地址", "must be a redis://, rediss:// or unix:// URL"),
    ("需要集群模式的软件包 (RQ, redis): make install CLUSTER=1 或 pip install '.[cluster]'",
     "needs cluster mode's packages (RQ, redis): make install CLUSTER=1 or "
     "pip install '.[cluster]'"),
    ("必须是 1-64 个字母, 数字, '_', '-' 或 '.'",
     "must be 1-64 letters, digits, '_', '-' or '.'"),
    ("unix:// 地址必须是 unix:///套接字的绝对路径 (例如 unix:///run/redis/redis.sock)",
     "a unix:// URL must be unix:/// and the socket's absolute path "
     "(e.g. unix:///run/redis/redis.sock)"),
    ("数据库编号必须是非负整数, 而不是 {value}",
     "the database number must be a non-negative integer, not {value}"),
    ("无法使用: {error}", "cannot be used: {error}"),
    ("必须是数组", "must be an array"),
    ("不是有效的目录路径", "is not a valid folder path"),
    ("不能含有控制字符 (如制表符, 换行) 或反斜杠",
     "must not contain a control character (such as a tab or a newline) or a backslash"),
    ("不能超过 {count} 个字符", "must be at most {count} characters long"),
    ("不能超过 {count} 个", "must have at most {count} entries"),
    ("不能超过 {count} 字节", "must be at most {count} bytes long"),
    ("不能超过 {count} 字节 ({why})", "must be at most {count} bytes long ({why})"),
    ("录制时的临时文件 {prefix}<文件名>{suffix} 不能超过 {count} 字节",
     "the work file {prefix}<name>{suffix} made while recording must fit in {count} bytes"),
    ("含有无效的 Unicode 字符", "contains an invalid Unicode character"),
    ("必须是不含目录部分的普通文件名", "must be a plain file name without a folder part"),
    ("不能与报告文件同名", "must not be the name of a report file"),
    ("必须以 .json 结尾", "must end with .json"),
    ("必须以视频扩展名结尾 ({extensions})", "must end with a video extension ({extensions})"),
    ("必须是以 .json 结尾的普通文件名", "must be a plain file name ending with .json"),
    ("是未知字段 (可能是拼写错误)", "is an unknown field (a typo?)"),
    ("是必填字段", "is required"),
    ("与 streams[{index}] 重复, 必须唯一", "repeats streams[{index}]; it must be unique"),
    ("与 webhooks[{index}] 的网址相同, 每个接收方只能出现一次",
     "has the URL of webhooks[{index}]: each receiver may be given once"),
    ("与 notify[{index}] 的网址相同, 每个接收方只能出现一次",
     "has the URL of notify[{index}]: each receiver may be given once"),
    ("与 streams[{index}] 的摄像机 ID 相同 ({camera}: 文件名去掉扩展名), 必须唯一",
     "gives the camera id of streams[{index}] ({camera}: the name without its extension); "
     "it must be unique"),
    ("JSON 格式错误: {msg} (第{lineno}行第{colno}列; 可能是第{line}行末尾缺少逗号)",
     "JSON syntax error: {msg} (line {lineno}, column {colno}; perhaps a comma missing at "
     "the end of line {line})"),
    ("JSON 格式错误: {msg} (第{lineno}行第{colno}列; 可能是第{line}行末尾多了一个逗号)",
     "JSON syntax error: {msg} (line {lineno}, column {colno}; perhaps a comma too many at "
     "the end of line {line})"),
    ("JSON 格式错误: {msg} (第{lineno}行第{colno}列)",
     "JSON syntax error: {msg} (line {lineno}, column {colno})"),
    ("JSON 格式错误: {error}", "JSON syntax error: {error}"),
    ("配置文件不存在", "the config file does not exist"),
    ("无法读取配置文件: {strerror}", "cannot read the config file: {strerror}"),
    ("配置文件不是普通文件 (目录, FIFO 或设备)",
     "the config file is not a regular file (a folder, FIFO or device)"),
    ("配置文件过大", "the config file is too large"),
    ("配置文件不是 UTF-8 文本", "the config file is not UTF-8 text"),
    ("含有隐藏的密码 (***), 但找不到同一摄像机 (相同 output_filename) 已保存的密码; 请填写完整地址",
     "holds a hidden password (***), but no password is stored for the same camera "
     "(same output_filename); give the whole URL"),
    ("含有隐藏的密码 (***), 但协议、主机或端口与已保存的地址不同; "
     "已保存的密码不会发往别的主机, 请填写完整地址 (含密码)",
     "holds a hidden password (***), but its scheme, host or port differs from the stored "
     "URL's; a stored password is never sent to another host: give the whole URL with its "
     "password"),
    ("不能是根目录或顶层目录 ({path})", "must not be the root or a top-level folder ({path})"),
    ("不能位于系统目录 /{name} 内", "must not be inside the system folder /{name}"),
    ("不能是系统目录 ({path})", "must not be a system folder ({path})"),
    ("不能是配置文件所在目录或其上级目录",
     "must not be the config file's folder or a folder above it"),
    ("不能是状态目录 {name} 或其上级、下级目录",
     "must not be the state folder {name} or a folder above or inside it"),
    ("路径中存在符号链接循环", "the path has a symbolic link loop"),
    ("必须是目录或尚不存在的路径: {path} 已存在且不是目录",
     "must be a folder or a path not made yet: {path} exists and is not a folder"),
    ("无法解析目录路径 ({strerror})", "cannot resolve the folder path ({strerror})"),
    ("必须是不含空白字符的 rtsp:// 或 rtsps:// 地址",
     "must be an rtsp:// or rtsps:// URL without white space"),
    ("必须是有效的 rtsp:// 或 rtsps:// 地址 (端口无效)",
     "must be a valid rtsp:// or rtsps:// URL (invalid port)"),
    ("必须以 rtsp:// 或 rtsps:// 开头", "must start with rtsp:// or rtsps://"),
    ("必须包含主机名", "must have a host name"),
    ("端口必须在 1-65535 之间", "the port must be from 1 to 65535"),
    ("@ 只能用在主机名之前; 用户名或密码中的 / ? # @ 须写成 %2F %3F %23 %40",
     "@ may only come before the host name; write / ? # @ in a user name or password as "
     "%2F %3F %23 %40"),
)

# The operator console's labels (app/console/templates): shown in English on ?lang=en.
CONSOLE_LABELS: tuple[tuple[str, str], ...] = (
    ("巡检控制台", "Patrol console"),
    ("总览", "Overview"),
    ("巡检周期", "Cycles"),
    ("实时任务", "Live tasks"),
    ("设置", "Settings"),
    ("退出", "Sign out"),
    ("在线", "online"),
    ("离线", "offline"),
    ("降级", "degraded"),
    ("全部", "all"),
    ("24 小时在线率", "uptime 24 h"),
    ("7 天", "7 days"),
    ("30 天", "30 days"),
    ("离线开始于", "offline since"),
    ("最近结果", "latest outcomes"),
    ("报告写入失败", "The reports could not be written"),
    ("录制守护进程", "Recorder"),
    ("运行中", "running"),
    ("未运行", "not running"),
    ("已停止", "stopped"),
    ("调度器", "Scheduler"),
    ("周期", "Cycle"),
    ("磁盘剩余", "Disk free"),
    ("下一轮", "Next cycle"),
    ("本机为备用协调器", "This host is a standby coordinator"),
    ("协调器", "coordinator"),
    ("等待开始于", "waiting since"),
    ("配置错误", "Config error"),
    ("文件", "File"),
    ("行", "line"),
    ("字段", "field"),
    ("没有配置摄像头", "No camera configured"),
    ("最近片段", "Latest clips"),
    ("立即检查", "Check now"),
    ("快速探测", "Quick probe"),
    ("这个摄像头已不在配置中: 不再巡检, 下面是它的历史",
     "This camera is no longer in the config: it is not patrolled; below is its history"),
    ("下载", "download"),
    ("没有片段", "No clips"),
    ("历史", "History"),
    ("结束时间", "Ended"),
    ("状态", "Status"),
    ("画面检查", "Picture check"),
    ("错误", "Error"),
    ("片段数", "Clips"),
    ("大小", "Size"),
    ("还没有巡检周期", "No cycle yet"),
    ("这一页已超出末尾: 共 1 个巡检周期", "This page is past the end: 1 cycle in all"),
    ("这一页已超出末尾: 共 {count} 个巡检周期", "This page is past the end: {count} cycles in all"),
    ("回到第一页", "Back to the first page"),
    ("未调度", "not scheduled"),
    ("进行中", "in progress"),
    ("无报告", "no report"),
    ("已中断", "interrupted"),
    ("上一页", "Previous"),
    ("下一页", "Next"),
    ("失败", "failed"),
    ("报告", "Reports"),
    ("片段", "Clip"),
    ("时间", "Time"),
    ("删除", "Delete"),
    ("确定删除这个片段?", "Delete this clip?"),
    ("确定删除整个周期?", "Delete this whole cycle?"),
    ("删除整个周期", "Delete the whole cycle"),
    ("这个周期正在录制: 片段录完后列在下面, 录制结束前不能删除整个周期",
     "This cycle is being recorded: its clips are listed below as they are finished; the whole"
     " cycle can be deleted once its recording has ended"),
    ("正在录制, 还没有录完的片段", "Being recorded: no clip finished yet"),
    ("输入 API 令牌", "Enter the API token"),
    ("API 令牌", "API token"),
    ("登录", "Sign in"),
    ("进度", "Progress"),
    ("字节", "Bytes"),
    ("没有任务", "No tasks"),
    ("进行中的检查", "Checks in progress"),
    ("摄像头", "Camera"),
    ("检查", "Check"),
    ("没有进行中的检查", "No check in progress"),
    ("启动调度器", "Start the scheduler"),
    ("停止调度器", "Stop the scheduler"),
    ("重新加载配置", "Reload the config"),
    ("全局设置", "Global settings"),
    ("保存", "Save"),
    ("视频流", "Streams"),
    ("确定删除这个视频流?", "Delete this stream?"),
    ("关闭", "Close"),
    ("配置文件有错误, 这里无法编辑设置: 按上面的文件、行和字段修改它 (或用 PUT /api/config 整个替换), "
     "然后重新加载配置。调度器仍可启动或停止。",
     "The config file is broken, so its settings cannot be edited here: fix it at the file, "
     "line and field above (or replace it whole with PUT /api/config), then reload the config. "
     "The scheduler can still be started or stopped."),
    ("添加", "Add"),
    ("只能读取时间戳目录中的报告文件", "Only the report files of a cycle folder can be read"),
    ("画面正常", "picture good"),
    ("未检查", "not checked"),
    ("测得", "measured"),
    ("阈值", "threshold"),
    ("检查片段", "Check clips"),
    ("没有检查片段", "No check clips"),
    ("已删除", "deleted"),
    ("检查中…", "Checking…"),
    ("没有画面", "No picture"),
    ("参考画面", "Reference picture"),
    ("设为参考画面", "Set as reference"),
    ("用最新缩略图作为这个摄像头的参考画面?", "Make the latest thumbnail this camera's reference "
     "picture?"),
    ("最新缩略图", "Latest thumbnail"),
    ("连接已断开", "Connection lost"),
    ("显示的数据截至", "showing data as of"),
    # The picture checks' verdicts (shared/quality_verdicts.py).
    ("黑屏", "black picture"),
    ("画面冻结", "frozen picture"),
    ("模糊", "blurred"),
    ("过暗", "too dark"),
    ("过亮", "too bright"),
    ("偏色", "colour cast"),
    ("帧率低", "low frame rate"),
    ("码率低", "low bitrate"),
    ("画面偏移/遮挡", "view moved or blocked"),
)

# The recorder's texts the console shows (recorder/): its status message, and each task's or
# check's error_message, as the status file, the reports and the history keep them. An
# ``{error}`` is ffmpeg's or the system's own (English) reason, copied as it is.
RECORDER_TEXTS: tuple[tuple[str, str], ...] = (
    ("任务已取消", "Task cancelled"),
    ("录制文件无法使用", "The recorded file cannot be used"),
    ("连接超时: 服务器未在规定时间内响应", "Connection timeout: the server did not answer in time"),
    ("读取超时: 长时间未收到数据", "Read timeout: no data received for too long"),
    ("流不可用", "Stream unavailable"),
    ("连接失败", "Connection failed"),
    ("未收到任何媒体数据", "No media data received"),
    ("录制超出预定时长, 已强制结束", "The recording ran past its planned length and was stopped"),
    ("媒体流提前结束: 仅录制 {recorded}秒 / {planned}秒 ({error})",
     "The stream ended early: only {recorded} s of {planned} s recorded ({error})"),
    ("媒体流提前结束: 仅录制 {recorded}秒 / {planned}秒",
     "The stream ended early: only {recorded} s of {planned} s recorded"),
    ("警告: 摄像机时间戳回跳, 已按收到的媒体时长结束录制",
     "Warning: the camera's timestamps jumped back; the recording ended at the length received"),
    ("磁盘空间不足, 写入失败", "Disk full; writing failed"),
    ("文件系统只读, 写入失败", "Read-only file system; writing failed"),
    ("输出目录不存在, 写入失败", "The output folder does not exist; writing failed"),
    ("输出目录无写入权限, 写入失败", "No permission to write the output folder; writing failed"),
    ("无法启动 ffmpeg: {error}", "ffmpeg could not be started: {error}"),
    ("未调度: 本轮时间窗口已过, 任务未启动",
     "Not scheduled: the cycle's window had passed; the task did not start"),
    ("网关无响应, 本轮跳过", "The gateway does not answer; skipped this cycle"),
    ("工作节点异常退出, 重试后仍未完成", "A worker exited abnormally; not finished after a retry"),
    ("未调度: 本轮时间窗口已过, 没有空闲的工作节点",
     "Not scheduled: the cycle's window had passed; no worker was free"),
    ("未调度: 本轮时间窗口已过, 集群的 Redis 未接受任务 ({error})",
     "Not scheduled: the cycle's window had passed; the cluster's Redis did not take the task "
     "({error})"),
    ("录制守护进程停止, 重启后重新检查",
     "The recorder daemon stopped; the check runs again when it starts"),
    ("录制守护进程停止; 摄像头已不在配置中, 未重新检查",
     "The recorder daemon stopped; the camera is no longer configured, so not checked again"),
    ("录制守护进程停止; 重启时没有有效的配置, 未重新检查",
     "The recorder daemon stopped; no valid config when it started, so not checked again"),
    ("录制守护进程意外退出; 摄像头已不在配置中, 未重新检查",
     "The recorder daemon exited unexpectedly; the camera is no longer configured, so not "
     "checked again"),
    ("录制守护进程意外退出; 重启时没有有效的配置, 未重新检查",
     "The recorder daemon exited unexpectedly; no valid config when it started, so not checked "
     "again"),
    ("检查目录无法创建, 未录制: {error}",
     "The check's folder could not be created; nothing recorded: {error}"),
    ("没有有效的配置, 等待修复 config.json", "No valid config; waiting for config.json to be fixed"),
    ("录制守护进程已停止", "The recorder daemon has stopped"),
    ("录制守护进程停止", "The recorder daemon stopped"),  # why a cycle was interrupted
    ("录制守护进程意外退出", "The recorder daemon exited unexpectedly"),
    # recorder/held_recoveries.py's WAITING_MESSAGE (one cycle: its own words)
    ("1 个中断的巡检等待有效的配置", "1 interrupted cycle waits for a valid config"),
    ("{count} 个中断的巡检等待有效的配置", "{count} interrupted cycles wait for a valid config"),
    # The status message's parts, joined (recorder/scheduler_state.py's status_message)
    ("{message}; {detail}", "{message}; {detail}"),
    ("已完成全部 1 轮巡检", "The one patrol cycle is done"),
    ("已完成全部 {count} 轮巡检", "All {count} patrol cycles are done"),
    ("调度器已停止", "Scheduler stopped"),
    ("无法创建输出目录 {folder}: {error}", "The output folder {folder} cannot be made: {error}"),
    ("是指向尚不存在位置的符号链接; 不会经由它创建目录, 等待该位置出现 (如磁盘挂载后)",
     "is a symbolic link to a place that does not exist yet; no folder is made through it,"
     " waiting for that place to appear (a disk mounted later)"),
    ("磁盘剩余空间不足: 剩余 {free} MB, 低于下限 {floor} MB",
     "Disk space low: {free} MB free, below the floor of {floor} MB"),
    ("第 {cycle} 轮 ({name}) 已结束, 等待集群的 Redis 确认由哪个录制守护进程写报告",
     "Cycle {cycle} ({name}) has ended; waiting for the cluster's Redis to say which recorder "
     "writes its reports"),
    ("第 {cycle} 轮 ({name}) 报告写入失败: {error}",
     "Cycle {cycle} ({name}): the reports could not be written: {error}"),
    ("中断的巡检 {name} 报告写入失败: {error}",
     "Interrupted cycle {name}: the reports could not be written: {error}"),
    ("备用协调器: 另一个录制守护进程正在协调本集群, 等待接管",
     "Standby coordinator: another recorder daemon coordinates this cluster; waiting to take over"),
    ("集群的 Redis 不可用 ({error}), 等待其恢复",
     "The cluster's Redis is unavailable ({error}); waiting for it to come back"),
)

STATUS_NAMES: tuple[tuple[str, str], ...] = (
    *((st.NAMES[code], st.NAMES_EN[code]) for code in st.NAMES),
    (st.UNKNOWN_NAME, st.UNKNOWN_NAME_EN),
)
TABLE = MESSAGES + REASONS + CONSOLE_LABELS + RECORDER_TEXTS + STATUS_NAMES

# Placeholders holding a text of the table (translated in turn; it must be one)…
_NESTED = frozenset({"message", "reason", "detail", "problem", "note", "why"})
# …or perhaps one: Python's own (English) error text is copied as it is.
_MAYBE_NESTED = frozenset({"error"})
_NUMBERS = frozenset({"low", "high", "count", "depth", "line", "lineno", "colno", "index"})
_NUMBER_RE = re.compile(r"-?[0-9]+")
_CJK_RE = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")
# Matching tries each split of a text, so its cost grows with the square of the
# length; the longest text of ours holds one 4096-character path. A longer one
# (a client's 1 MB key echoed back) is left untranslated rather than costing seconds.
MAX_TEXT = 5000


def has_chinese(text: str) -> bool:
    """True when ``text`` holds a Chinese character or punctuation mark."""
    return bool(_CJK_RE.search(text))


def _split(chinese: str) -> tuple[str, ...]:
    """``"a {x} b"`` as ``("a ", "x", " b")``: literals at even places, names at odd ones."""
    # Two placeholders side by side could split anywhere: the table never has them
    # (tests/test_i18n.py checks it).
    return tuple(_PLACEHOLDER_RE.split(chinese))


_EXACT = {chinese: english for chinese, english in TABLE if "{" not in chinese}
_TEMPLATES = tuple((_split(chinese), english) for chinese, english in TABLE if "{" in chinese)


def _value(name: str, text: str) -> str | None:
    """What placeholder ``name`` becomes in English for ``text`` (None: it cannot be ``text``)."""
    if not text:
        return None
    if name in _NUMBERS:
        return text if _NUMBER_RE.fullmatch(text) else None
    if name in _NESTED or (name in _MAYBE_NESTED and has_chinese(text)):
        return translate(text)
    return text


def _ends(parts: tuple[str, ...], text: str, start: int) -> Iterator[int]:
    """Where the placeholder ``parts[1]`` starting at ``start`` may end, likeliest first."""
    following = parts[2]
    if len(parts) == 3:  # the last placeholder: it runs to the closing literal
        end = len(text) - len(following)
        if end > start and text.endswith(following):
            yield end
        return
    ends = []
    found = text.find(following, start + 1)
    while found != -1:
        ends.append(found)
        found = text.find(following, found + 1)
    # A nested text is the long part (a reason, a message); a value is short (a field name).
    yield from reversed(ends) if parts[1] in _NESTED | _MAYBE_NESTED else ends


def _match(parts: tuple[str, ...], text: str, start: int, values: dict) -> dict | None:
    """The English values of the placeholders when ``text[start:]`` fits ``parts``, else None."""
    if not text.startswith(parts[0], start):
        return None
    start += len(parts[0])
    if len(parts) == 1:
        return values if start == len(text) else None
    for end in _ends(parts, text, start):
        value = _value(parts[1], text[start:end])
        if value is not None:
            found = _match(parts[2:], text, end, {**values, parts[1]: value})
            if found is not None:
                return found
    return None


def translate(text: str) -> str | None:
    """The English of a Chinese ``text`` of the table (values filled in), or None when it has none."""
    if text in _EXACT:
        return _EXACT[text]
    if len(text) > MAX_TEXT:
        return None
    for parts, english in _TEMPLATES:
        values = _match(parts, text, 0, {})
        if values is not None:
            return english.format(**values)
    return None


def english(text: str) -> str:
    """``text`` in English: its translation, or ``text`` itself when it has none."""
    found = translate(text)
    return text if found is None else found


def beside(values: dict, chinese_keys: tuple[str, ...]) -> dict:
    """``values`` with ``<key>_en`` right after each string ``<key>`` of ``chinese_keys``."""
    answer = {}
    for key, value in values.items():
        answer[key] = value
        if key in chinese_keys and isinstance(value, str):
            answer[f"{key}_en"] = english(value)
    return answer
