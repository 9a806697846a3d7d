// Package kernel builds minimal Linux kernels for minidisk images and
// inspects bzImage files.
//
// A build is `make tinyconfig`, the profile's options plus an optional
// fragment merged into .config, `make olddefconfig`, a check that every
// requested option survived (olddefconfig silently drops options whose
// dependencies are off), and `make -jN bzImage`.
//
// Cache layout under ${XDG_CACHE_HOME:-~/.cache}/minidisk:
//
//	src/<id>/linux-source-6.1/   the tarball, extracted once, shared by all profiles
//	build/<buildkey>/            make's O= directory, one per source+profile+options
//	build/<buildkey>.log         the log of the last build there
//	kernels/<key>/bzImage        published results (with config and build.log)
//	*.lock                       flock files: one builder per key, others wait
//
// key covers the source identity, profile, every requested option (the
// fragment included), the initramfs content and SOURCE_DATE_EPOCH;
// buildkey leaves out the initramfs, so a new initramfs for the efi profile
// reuses the compiled tree and only relinks. A tarball source is identified
// by (path, size, mtime) rather than a hash of its 138 MB, which would cost
// about half a second on every cache hit; a directory source by its path,
// newest mtime and file count.
//
// Results are published by renaming a finished temporary directory, so a
// reader sees a complete kernel or none.
package kernel
