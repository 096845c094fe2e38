//! Xen's errno values (`xen/include/public/errno.h`), returned negated in x0.
//!
//! `XEN_EINTR` and `XEN_ERESTART` are Xen-internal (`#ifdef __XEN__`) and never reach a guest;
//! they are not declared.

macro_rules! errnos {
    ($($name:ident = $val:expr, $doc:expr;)*) => {
        $( #[doc = concat!($doc, " (errno.h).")] pub const $name: u32 = $val; )*
        /// Every errno of errno.h with its name.
        pub const ALL: &[(u32, &str)] = &[$(($val, stringify!($name))),*];
    };
}

errnos! {
    XEN_EPERM = 1, "Operation not permitted";
    XEN_ENOENT = 2, "No such file or directory";
    XEN_ESRCH = 3, "No such process";
    XEN_EIO = 5, "I/O error";
    XEN_ENXIO = 6, "No such device or address";
    XEN_E2BIG = 7, "Arg list too long";
    XEN_ENOEXEC = 8, "Exec format error";
    XEN_EBADF = 9, "Bad file number";
    XEN_ECHILD = 10, "No child processes";
    XEN_EAGAIN = 11, "Try again";
    XEN_EWOULDBLOCK = 11, "Operation would block; aliases EAGAIN";
    XEN_ENOMEM = 12, "Out of memory";
    XEN_EACCES = 13, "Permission denied";
    XEN_EFAULT = 14, "Bad address";
    XEN_EBUSY = 16, "Device or resource busy";
    XEN_EEXIST = 17, "File exists";
    XEN_EXDEV = 18, "Cross-device link";
    XEN_ENODEV = 19, "No such device";
    XEN_ENOTDIR = 20, "Not a directory";
    XEN_EISDIR = 21, "Is a directory";
    XEN_EINVAL = 22, "Invalid argument";
    XEN_ENFILE = 23, "File table overflow";
    XEN_EMFILE = 24, "Too many open files";
    XEN_ENOSPC = 28, "No space left on device";
    XEN_EROFS = 30, "Read-only file system";
    XEN_EMLINK = 31, "Too many links";
    XEN_EDOM = 33, "Math argument out of domain of func";
    XEN_ERANGE = 34, "Math result not representable";
    XEN_EDEADLK = 35, "Resource deadlock would occur";
    XEN_EDEADLOCK = 35, "Resource deadlock would occur; aliases EDEADLK";
    XEN_ENAMETOOLONG = 36, "File name too long";
    XEN_ENOLCK = 37, "No record locks available";
    XEN_ENOSYS = 38, "Function not implemented";
    XEN_ENOTEMPTY = 39, "Directory not empty";
    XEN_ENODATA = 61, "No data available";
    XEN_ETIME = 62, "Timer expired";
    XEN_EBADMSG = 74, "Not a data message";
    XEN_EOVERFLOW = 75, "Value too large for defined data type";
    XEN_EILSEQ = 84, "Illegal byte sequence";
    XEN_ENOTSOCK = 88, "Socket operation on non-socket";
    XEN_EMSGSIZE = 90, "Message too large";
    XEN_EOPNOTSUPP = 95, "Operation not supported on transport endpoint";
    XEN_EADDRINUSE = 98, "Address already in use";
    XEN_EADDRNOTAVAIL = 99, "Cannot assign requested address";
    XEN_ENOBUFS = 105, "No buffer space available";
    XEN_EISCONN = 106, "Transport endpoint is already connected";
    XEN_ENOTCONN = 107, "Transport endpoint is not connected";
    XEN_ETIMEDOUT = 110, "Connection timed out";
    XEN_ECONNREFUSED = 111, "Connection refused";
}

/// `-e` as the 64-bit register value a hypercall returns (two's complement).
pub const fn neg(e: u32) -> u64 {
    (e as u64).wrapping_neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neg_is_twos_complement() {
        assert_eq!(neg(XEN_ENOSYS), (-38i64) as u64);
        assert_eq!(neg(XEN_EPERM), u64::MAX);
        assert_eq!(neg(0), 0);
        assert_eq!(neg(XEN_EINVAL) as i64, -22);
    }

    #[test]
    fn values() {
        assert_eq!(XEN_ESRCH, 3);
        assert_eq!(XEN_EFAULT, 14);
        assert_eq!(XEN_EOPNOTSUPP, 95);
        assert_eq!(XEN_E2BIG, 7);
        assert!(ALL.iter().all(|&(v, _)| v > 0 && v < 4096));
    }
}
