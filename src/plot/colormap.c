/* colormap.c — varflow's perceptual colour map, defined in OKLab (Ottosson 2020) polar coordinates:
 * lightness rising linearly from 0.28 (dark violet) to 0.94 (yellow), hue turning from 316 degrees
 * through teal (about 210) to 105, chroma 0.14 -> 0.10 -> 0.18 along a parabola. Equal steps in t
 * are roughly equal perceived steps and lightness alone orders the colours (it stays readable in
 * grey). Colours outside sRGB are pulled in by lowering the chroma, never the lightness. */
#include <math.h>
#include "plot_internal.h"

/* OKLab -> linear sRGB (Ottosson's published matrices). */
static void oklab_to_linear(double L, double a, double b, double rgb[3])
{
    double l = L + 0.3963377774 * a + 0.2158037573 * b;
    double m = L - 0.1055613458 * a - 0.0638541728 * b;
    double s = L - 0.0894841775 * a - 1.2914855480 * b;
    l = l * l * l;
    m = m * m * m;
    s = s * s * s;
    rgb[0] = 4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s;
    rgb[1] = -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s;
    rgb[2] = -0.0041960863 * l - 0.7034186147 * m + 1.7076147010 * s;
}

static int in_gamut(const double c[3])
{
    for (int k = 0; k < 3; k++)
        if (c[k] < -1e-6 || c[k] > 1.0 + 1e-6) return 0;
    return 1;
}

static unsigned char encode_srgb(double v)
{
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    double e = v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1.0 / 2.4) - 0.055;
    long q = lround(e * 255.0);
    return (unsigned char)(q < 0 ? 0 : q > 255 ? 255 : q);
}

void vf_plot_colormap(double t, unsigned char rgb[3])
{
    if (!(t >= 0.0)) t = 0.0; /* NaN too */
    if (t > 1.0) t = 1.0;
    double L = 0.28 + 0.66 * t, h = (316.0 - 211.0 * t) * VF_PI / 180.0, C = 0.14 - 0.20 * t + 0.24 * t * t;
    double lin[3];
    oklab_to_linear(L, C * cos(h), C * sin(h), lin);
    if (!in_gamut(lin)) { /* bisect the largest chroma in gamut */
        double lo = 0.0, hi = C;
        for (int it = 0; it < 30; it++) {
            double mid = 0.5 * (lo + hi);
            oklab_to_linear(L, mid * cos(h), mid * sin(h), lin);
            if (in_gamut(lin)) lo = mid;
            else hi = mid;
        }
        oklab_to_linear(L, lo * cos(h), lo * sin(h), lin);
    }
    for (int k = 0; k < 3; k++) rgb[k] = encode_srgb(lin[k]);
}

void vf__color_hex(double t, char out[8])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c[3];
    vf_plot_colormap(t, c);
    out[0] = '#';
    for (int k = 0; k < 3; k++) {
        out[1 + 2 * k] = hex[c[k] >> 4];
        out[2 + 2 * k] = hex[c[k] & 15];
    }
    out[7] = '\0';
}
