;; Creates the file named on stdin in the first preopen (fd 3) and writes
;; "written" to it. Prints "denied" and exits 1 when that fails.
(module
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; 0: iovec, 8: count, 12: opened fd, 16: written, 32: messages,
  ;; 1024: path
  (data (i32.const 32) "denied\n")
  (data (i32.const 48) "written\n")
  (func $deny
    (i32.store (i32.const 0) (i32.const 32))
    (i32.store (i32.const 4) (i32.const 7))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))
    (call $proc_exit (i32.const 1)))
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 1024))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    ;; oflags 9 = creat|trunc; rights 64 = fd_write
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 1024)
          (i32.load (i32.const 8)) (i32.const 9) (i64.const 64) (i64.const 0)
          (i32.const 0) (i32.const 12))
      (then (call $deny)))
    (i32.store (i32.const 0) (i32.const 48))
    (i32.store (i32.const 4) (i32.const 8))
    (if (call $fd_write (i32.load (i32.const 12)) (i32.const 0) (i32.const 1) (i32.const 16))
      (then (call $deny)))))
