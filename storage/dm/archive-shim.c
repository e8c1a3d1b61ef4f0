/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linked into the devicemapper driver only when it takes libarchive from libarchive.a
 * (mk/devicemapper.mk).  The pax writer calls this one helper of archive_write_set_format.o,
 * and that object's format table would pull in every writer libarchive has, xar's with
 * libxml2 and through it ICU and libstdc++: about a second of loading per driver call in the
 * dm-vm.  Weak, so that a libarchive whose other objects need archive_write_set_format.o
 * anyway links its own.  Same message as libarchive's.
 */
#include <errno.h>
#include <archive.h>
#include <archive_entry.h>

void __archive_write_entry_filetype_unsupported(struct archive *a, struct archive_entry *entry,
						 const char *format);

__attribute__((weak)) void
__archive_write_entry_filetype_unsupported(struct archive *a, struct archive_entry *entry,
					   const char *format)
{
	archive_set_error(a, EILSEQ, /* libarchive's ARCHIVE_ERRNO_FILE_FORMAT on Linux */
			  "%s: %s format cannot archive this (type=0%lo)",
			  archive_entry_pathname(entry), format,
			  (unsigned long)archive_entry_filetype(entry));
}
