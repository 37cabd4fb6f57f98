/* png.c — 8-bit PNG files through libpng (when the build found it), encoded in memory and written
 * atomically. libpng reports errors through callbacks: ours record the message and longjmp back,
 * so nothing is printed and every failure becomes a vf_status. */
#include <string.h>
#include "plot_internal.h"

#if VF_HAVE_PNG
#include <png.h>
#include <setjmp.h>

int vf_plot_have_png(void) { return 1; }

typedef struct png_sink {
    vf__buf out;
    char message[200];
} png_sink;

static void on_error(png_structp png, png_const_charp msg)
{
    png_sink *s = (png_sink *)png_get_error_ptr(png);
    snprintf(s->message, sizeof s->message, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static void on_write(png_structp png, png_bytep data, png_size_t n)
{
    png_sink *s = (png_sink *)png_get_io_ptr(png);
    vf__buf_put(&s->out, data, n);
    if (s->out.failed) png_error(png, "out of memory");
}

static void on_flush(png_structp png) { (void)png; }

vf_status vf__png_write(const char *path, int64_t w, int64_t h, int channels, const unsigned char *pixels)
{
    if (w < 1 || h < 1 || w > 0x7fffffff || h > 0x7fffffff || (channels != 1 && channels != 3))
        return vf__error(VF_ERR_ARG, "plot: %s: invalid PNG size %lld x %lld", path, (long long)w, (long long)h);
    png_sink sink;
    vf__buf_init(&sink.out);
    sink.message[0] = '\0';
    png_bytep *rows = vf_malloc((size_t)h * sizeof *rows);
    if (!rows) return VF_ERR_NOMEM;
    for (int64_t r = 0; r < h; r++) rows[r] = (png_bytep)(pixels + (size_t)r * (size_t)w * (size_t)channels);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    vf_status s = VF_OK;
    if (!png || !info) {
        s = vf__error(VF_ERR_NOMEM, "plot: %s: libpng could not start", path);
    } else if (setjmp(png_jmpbuf(png))) {
        s = sink.out.failed ? vf__error(VF_ERR_NOMEM, "plot: out of memory encoding %s", path)
                            : vf__error(VF_ERR_IO, "plot: %s: libpng: %s", path, sink.message);
    } else {
        png_set_write_fn(png, &sink, on_write, on_flush);
        png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        png_write_image(png, rows);
        png_write_end(png, NULL);
    }
    png_destroy_write_struct(png ? &png : NULL, info ? &info : NULL);
    vf_free(rows);
    if (s == VF_OK) s = vf_atomic_write_file(path, sink.out.data, sink.out.len);
    vf__buf_free(&sink.out);
    return s;
}

#else

int vf_plot_have_png(void) { return 0; }

vf_status vf__png_write(const char *path, int64_t w, int64_t h, int channels, const unsigned char *pixels)
{
    (void)w, (void)h, (void)channels, (void)pixels;
    return vf__error(VF_ERR_UNSUPPORTED, "plot: %s: PNG needs libpng, which this build of varflow lacks "
                     "(install libpng-dev and rebuild, or name the file .svg)", path);
}

#endif
