/* A libarchive.so.13 with one of the functions lxbox calls: the loader of a dynamic build
   must refuse it in load(), before any archive work starts. */
struct archive;
struct archive* archive_read_new(void) { return 0; }
