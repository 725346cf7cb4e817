;; Declares almost 4 GiB of initial memory.
(module
  (memory (export "memory") 65000)
  (func (export "_start")))
