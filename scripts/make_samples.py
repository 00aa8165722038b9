"""Write the shotdex sample corpus. Run from anywhere: python samples/_make.py

Everything here is written for shotdex by its authors (see NOTICE.md). Text files are kept in this
script too so the corpus can be rebuilt exactly; binary files (xlsx, png, pdf) are generated
deterministically (fixed metadata) and committed, each well under 200 KB.
"""

from __future__ import annotations

import json
import os
import textwrap

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "samples")


def write(rel: str, text: str) -> None:
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(textwrap.dedent(text).lstrip("\n"))


# ---------------------------------------------------------------- notes (Markdown)
write("notes/sourdough-baking.md", """
# Notes on sourdough baking

My starter ("Bjørn") is fed 1:5:5 — one part starter, five parts rye and wheat flour, five parts water
at 26 °C. It peaks after about six hours in summer and eight in winter.

## Weekend country loaf

| step | time | notes |
|---|---|---|
| levain | Fri 22:00 | 50 g starter, 100 g flour, 100 g water |
| autolyse | Sat 08:00 | 900 g bread flour, 100 g whole wheat, 700 g water |
| mix | Sat 09:00 | add levain and 22 g salt, 50 g water |
| bulk | 09:00–13:30 | four sets of stretch and folds, 30 min apart |
| shape | 13:30 | pre-shape, bench rest 20 min, final shape into bannetons |
| cold proof | overnight | 4 °C in the fridge, 12–16 hours |
| bake | Sun 08:00 | Dutch oven, 250 °C lid on 20 min, 230 °C lid off 25 min |

## What went wrong (and fixes)

- **Flat loaves in July**: bulk ran too long in the warm kitchen. Cut bulk to 3½ hours above 25 °C.
- **Gummy crumb**: cut the bread before it cooled. Wait at least two hours.
- **Pale crust**: preheat the Dutch oven for a full 45 minutes.

> Hydration above 78 % makes shaping hard with this flour; stay at 75 % until the gluten feels strong.
""")

write("notes/kayak-trip-lofoten.md", """
# Kayak trip: Lofoten islands, August

Five days paddling from Henningsvær to Reine, about 95 km in total.

## Packing list
1. Dry suit, spray skirt, paddle float and bilge pump
2. Tent rated for wind, down sleeping bag (comfort 2 °C)
3. VHF radio, chart 1:50 000, compass, tide tables for Svolvær
4. Stove, 1.5 l fuel, freeze-dried dinners for six days (one spare)

## Day log
- **Day 1** — Henningsvær to Stamsund, 21 km. Headwind from the south-west, 8 m/s.
- **Day 2** — Rest day, fog. Watched sea eagles over the skerries.
- **Day 3** — Stamsund to Ballstad, 24 km, crossed Buksnesfjorden at slack tide.
- **Day 4** — Ballstad to Hamnøy, 28 km. Orcas seen near Nusfjord in the evening!
- **Day 5** — Hamnøy to Reine, 9 km, easy paddle under Olstinden.

Lesson: plan open crossings for the hour around slack water; the Moskstraumen current is not a joke.
""")

write("notes/meeting-garden-allotment.md", """
# Allotment association — spring meeting minutes

*Date: 14 March. Present: 11 members. Chair: Ingrid Solberg.*

## Decisions
- The shared greenhouse gets a new automatic vent opener (budget 1,200 NOK).
- Plot 7 is reassigned to the Haugen family from the waiting list.
- Water is turned on on 1 May; hoses must be rolled up after use.

## Compost rules
Only raw vegetable scraps, coffee grounds, leaves and grass clippings. **No** cooked food, meat, or
diseased tomato plants (blight spreads through the compost).

## Action items
- [ ] Per: order 3 m³ of horse manure before Easter
- [ ] Aisha: fix the broken tap at the north gate
- [ ] Everyone: clear paths between plots by the first work day, 20 April
""")

# ---------------------------------------------------------------- plain text
write("docs/lighthouse-keepers.txt", """
THE LAST LIGHTHOUSE KEEPERS OF THE NORWEGIAN COAST
A short history

Norway once had more than two hundred manned lighthouses. Keepers and their families lived on
bare rocks far out at sea, trimming wicks, winding clockwork that turned the lens, and writing
the weather into the station log three times a day.

Automation came slowly. Electric lamps arrived in the 1920s and 1930s, radio beacons after the
war, and by the 1980s most stations were run from the mainland. The last keeper left
Lista lighthouse in 2002, and the old houses are now rented out as guest rooms to visitors who
want to hear storms the way the keepers did.

Daily routine at a typical station, around 1910:
  05:30  extinguish the light, clean the lens and the lantern glass
  08:00  weather observation: wind, sea state, visibility
  12:00  maintenance: paint, repair the boat landing, haul supplies
  14:00  weather observation
  sunset light the lamp, wind the rotation clock every two hours through the night
  20:00  weather observation

Keepers were paid little, but received free housing, coal and a small plot for potatoes.
Children rowed to school when the sea allowed, and many stations kept a cow or a few sheep.
""")

# ---------------------------------------------------------------- source code
write("code/fibonacci_cache.py", '''
"""Fibonacci numbers three ways: naive recursion, memoised recursion, and fast doubling."""

from functools import lru_cache


def fib_naive(n: int) -> int:
    """Exponential time; only for checking the others on small n."""
    return n if n < 2 else fib_naive(n - 1) + fib_naive(n - 2)


@lru_cache(maxsize=None)
def fib_memo(n: int) -> int:
    return n if n < 2 else fib_memo(n - 1) + fib_memo(n - 2)


def fib_doubling(n: int) -> int:
    """O(log n) using F(2k) = F(k) * (2F(k+1) - F(k)) and F(2k+1) = F(k)^2 + F(k+1)^2."""

    def pair(k: int) -> tuple[int, int]:
        if k == 0:
            return 0, 1
        a, b = pair(k // 2)
        c = a * (2 * b - a)
        d = a * a + b * b
        return (d, c + d) if k % 2 else (c, d)

    return pair(n)[0]


if __name__ == "__main__":
    for n in range(20):
        assert fib_naive(n) == fib_memo(n) == fib_doubling(n)
    print("F(1000) has", len(str(fib_doubling(1000))), "digits")
''')

write("code/debounce.js", """
// Debounce and throttle helpers for search-as-you-type inputs.

export function debounce(fn, waitMs = 250) {
  let timer = null;
  return function debounced(...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), waitMs);
  };
}

export function throttle(fn, intervalMs = 100) {
  let last = 0;
  return function throttled(...args) {
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      fn.apply(this, args);
    }
  };
}

// Usage: only query the library catalogue after the user pauses typing.
const input = document.querySelector("#catalogue-search");
input?.addEventListener("input", debounce((e) => fetchBooks(e.target.value), 300));
""")

# ---------------------------------------------------------------- tables
write("tables/nordic_capitals.csv", """
country,capital,population_city,founded,area_km2,river_or_harbour
Norway,Oslo,709037,1040,480.8,Oslofjord
Sweden,Stockholm,984748,1252,188.0,Lake Mälaren and the Baltic
Denmark,Copenhagen,660842,1167,86.2,Øresund
Finland,Helsinki,674500,1550,214.3,Gulf of Finland
Iceland,Reykjavík,139875,874,273.0,Faxaflói bay
Faroe Islands,Tórshavn,14095,825,173.0,Nólsoyarfjørður
Greenland,Nuuk,19872,1728,690.0,Nuup Kangerlua fjord
Åland,Mariehamn,11705,1861,11.9,Slemmern and Västerhamn
""")

write("tables/coffee_exports_2022.csv", """
land;tonnes_exported;share_of_world_pct;main_variety;harbour
Brazil;2 242 000;33,4;Arabica;Santos
Vietnam;1 675 000;24,9;Robusta;Ho Chi Minh City
Colombia;702 000;10,4;Arabica;Buenaventura
Indonesia;385 000;5,7;Robusta;Lampung
Ethiopia;286 000;4,3;Arabica;Djibouti
Honduras;319 000;4,7;Arabica;Puerto Cortés
Uganda;372 000;5,5;Robusta;Mombasa
India;237 000;3,5;Robusta;Chennai
""")

write("tables/bird_sightings.tsv", """
date\tspecies\tlatin_name\tcount\tlocation\tobserver
2024-04-02\tEurasian oystercatcher\tHaematopus ostralegus\t14\tJæren beach\tKari
2024-04-02\tNorthern lapwing\tVanellus vanellus\t6\tJæren fields\tKari
2024-04-09\tWhite-tailed eagle\tHaliaeetus albicilla\t2\tSmøla coast\tTor
2024-04-13\tCommon crane\tGrus grus\t31\tHornborgasjön\tLinnea
2024-04-20\tAtlantic puffin\tFratercula arctica\t240\tRunde island\tTor
2024-04-21\tNorthern gannet\tMorus bassanus\t55\tRunde island\tTor
2024-05-01\tEurasian wryneck\tJynx torquilla\t1\tOslo botanical garden\tKari
2024-05-04\tBluethroat\tLuscinia svecica\t3\tFokstumyra nature reserve\tLinnea
""")

write("tables/periodic_elements.json", json.dumps([
    {"symbol": "H", "element": "Hydrogen", "atomic_number": 1, "atomic_mass": 1.008, "discovered_by": "Henry Cavendish", "year": 1766},
    {"symbol": "He", "element": "Helium", "atomic_number": 2, "atomic_mass": 4.0026, "discovered_by": "Pierre Janssen", "year": 1868},
    {"symbol": "C", "element": "Carbon", "atomic_number": 6, "atomic_mass": 12.011, "discovered_by": "known since antiquity", "year": None},
    {"symbol": "O", "element": "Oxygen", "atomic_number": 8, "atomic_mass": 15.999, "discovered_by": "Carl Wilhelm Scheele", "year": 1771},
    {"symbol": "Ne", "element": "Neon", "atomic_number": 10, "atomic_mass": 20.180, "discovered_by": "William Ramsay", "year": 1898},
    {"symbol": "Fe", "element": "Iron", "atomic_number": 26, "atomic_mass": 55.845, "discovered_by": "known since antiquity", "year": None},
    {"symbol": "Ag", "element": "Silver", "atomic_number": 47, "atomic_mass": 107.87, "discovered_by": "known since antiquity", "year": None},
    {"symbol": "U", "element": "Uranium", "atomic_number": 92, "atomic_mass": 238.03, "discovered_by": "Martin Heinrich Klaproth", "year": 1789},
], indent=1, ensure_ascii=False) + "\n")

# ---------------------------------------------------------------- charts: specs and data
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
RAIN = [262, 184, 151, 96, 82, 107, 163, 229, 281, 297, 268, 276]
write("charts/bergen_rainfall_2023.csv",
      "month,rainfall_mm\n" + "".join(f"{m},{r}\n" for m, r in zip(MONTHS, RAIN)))
write("charts/bergen_rainfall_2023.chart.yaml", """
title: Monthly rainfall in Bergen 2023
data: bergen_rainfall_2023.csv
mark: bar
x: month
y: rainfall_mm
xlabel: Month
ylabel: Rainfall (mm)
""")

SOLAR = [(h, round(max(0.0, 4.2 * (1 - ((h - 13) / 7) ** 2)), 2)) for h in range(5, 22)]
write("charts/data/solar_panel_output.csv",
      "hour,kilowatts\n" + "".join(f"{h},{k}\n" for h, k in SOLAR))
write("charts/solar_panel_output.vl.json", json.dumps({
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "title": "Rooftop solar panel output on 21 June (kW by hour)",
    "data": {"url": "data/solar_panel_output.csv"},
    "mark": {"type": "area", "line": True, "color": "#f2a900"},
    "width": 640, "height": 360,
    "encoding": {
        "x": {"field": "hour", "type": "quantitative", "title": "Hour of day"},
        "y": {"field": "kilowatts", "type": "quantitative", "title": "Output (kW)"},
    },
}, indent=1) + "\n")

write("charts/tea_consumption.vl.json", json.dumps({
    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
    "title": "Tea consumption per person per year (kg)",
    "data": {"values": [
        {"country": "Turkey", "kg": 3.16}, {"country": "Ireland", "kg": 2.19},
        {"country": "United Kingdom", "kg": 1.94}, {"country": "Iran", "kg": 1.50},
        {"country": "Russia", "kg": 1.38}, {"country": "Morocco", "kg": 1.22},
        {"country": "New Zealand", "kg": 1.19}, {"country": "Egypt", "kg": 1.01},
    ]},
    "mark": "bar",
    "width": 560, "height": 320,
    "encoding": {
        "y": {"field": "country", "type": "nominal", "sort": "-x", "title": "Country"},
        "x": {"field": "kg", "type": "quantitative", "title": "Kilograms per person"},
    },
}, indent=1) + "\n")

# ---------------------------------------------------------------- web pages
write("web/tea-guide/index.html", """
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>A beginner's guide to brewing loose-leaf tea</title>
<link rel="stylesheet" href="style.css"></head>
<body>
<header><h1>Brewing loose-leaf tea</h1><p class="lede">Water temperature and steeping time for six kinds of tea.</p></header>
<img src="images/teapot.png" alt="A blue teapot" width="240" height="160">
<table>
<tr><th>Tea</th><th>Water</th><th>Time</th><th>Leaf per cup</th></tr>
<tr><td>Sencha (green)</td><td>75 °C</td><td>1 min</td><td>3 g</td></tr>
<tr><td>Darjeeling first flush</td><td>85 °C</td><td>3 min</td><td>2.5 g</td></tr>
<tr><td>Assam (black)</td><td>95 °C</td><td>4 min</td><td>3 g</td></tr>
<tr><td>Tieguanyin (oolong)</td><td>90 °C</td><td>2 min, many infusions</td><td>5 g</td></tr>
<tr><td>Silver needle (white)</td><td>80 °C</td><td>5 min</td><td>4 g</td></tr>
<tr><td>Pu-erh (shou)</td><td>100 °C</td><td>rinse, then 30 s</td><td>5 g</td></tr>
</table>
<h2>Why temperature matters</h2>
<p>Boiling water scorches delicate green leaves and pulls out bitter catechins. Black teas and pu-erh need
near-boiling water to release their full flavour. Use a thermometer or let boiled water rest:
about two minutes for 85 °C, four minutes for 75 °C.</p>
<p class="tip">Tip: warm the pot first so the water does not lose heat on contact.</p>
</body></html>
""")
write("web/tea-guide/style.css", """
body { font-family: "DejaVu Serif", serif; max-width: 760px; margin: 24px auto; color: #222; background: #fbf8f1; }
header { border-bottom: 3px solid #5a7d3a; margin-bottom: 16px; }
h1 { color: #3e5a24; font-size: 34px; margin: 0 0 6px; }
.lede { font-style: italic; color: #555; }
table { border-collapse: collapse; margin: 16px 0; }
td, th { border: 1px solid #c9c0a8; padding: 4px 10px; }
th { background: #e8e1cc; }
.tip { background: #e6f0da; padding: 8px 12px; border-left: 4px solid #5a7d3a; }
""")

write("web/cardamom-buns.html", """
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Swedish cardamom buns (kardemummabullar)</title>
<link rel="stylesheet" href="assets/recipe.css"></head>
<body>
<h1>Swedish cardamom buns</h1>
<p class="meta">Makes 16 buns · 3 hours including rising · oven 225 °C</p>
<img src="assets/buns.png" alt="Cardamom buns on a tray" width="300" height="180">
<h2>Dough</h2>
<ul><li>500 g wheat flour</li><li>75 g sugar</li><li>25 g fresh yeast</li><li>300 ml milk, warmed to 37 °C</li>
<li>100 g soft butter</li><li>2 tsp freshly ground cardamom</li><li>½ tsp salt</li></ul>
<h2>Filling</h2>
<ul><li>150 g soft butter</li><li>100 g brown sugar</li><li>1 tbsp ground cardamom</li></ul>
<h2>Method</h2>
<ol><li>Dissolve the yeast in the milk, add sugar, cardamom, salt and flour, then knead in the butter.</li>
<li>Let rise under a towel for 45 minutes.</li>
<li>Roll out to 30 × 50 cm, spread the filling, fold in thirds and cut 16 strips.</li>
<li>Twist each strip and tie it into a knot; rise again for 40 minutes.</li>
<li>Brush with egg, sprinkle pearl sugar, bake 10–12 minutes until golden.</li></ol>
</body></html>
""")
write("web/assets/recipe.css", """
body { font-family: "Liberation Sans", sans-serif; margin: 30px 60px; background: #fffaf3; color: #2b2118; }
h1 { font-size: 36px; color: #8a4b14; }
.meta { color: #7a6a5a; }
li { margin: 4px 0; }
""")

write("web/observatory-open-night.html", """
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Open night at the Solhaug observatory</title>
<style>
 body { font-family: "DejaVu Sans", sans-serif; background: #0d1b2a; color: #e0e1dd; margin: 40px; }
 h1 { color: #ffd166; } .event { border: 1px solid #415a77; padding: 10px 14px; margin: 10px 0; }
</style></head>
<body>
<h1>Open night at the Solhaug observatory</h1>
<p>Every clear Friday from October to March the 40 cm reflector is open to the public.</p>
<div class="event"><b>18 October</b> — Saturn's rings and the moon Titan, talk by the astronomy club.</div>
<div class="event"><b>15 November</b> — The Andromeda galaxy and the Pleiades star cluster.</div>
<div class="event"><b>13 December</b> — Geminid meteor shower watch, hot cocoa provided.</div>
<div class="event"><b>17 January</b> — Jupiter's Galilean moons and the Great Red Spot.</div>
<p>Dress warmly: the dome is not heated. Entry is free; children under 12 with an adult.</p>
</body></html>
""")


# ---------------------------------------------------------------- binaries
def make_binaries() -> None:
    import datetime

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure
    from openpyxl import Workbook
    from PIL import Image, ImageDraw

    matplotlib.rcParams["svg.hashsalt"] = "shotdex"
    matplotlib.rcParams["pdf.fonttype"] = 42

    # PNG chart
    fig = Figure(figsize=(8, 5), dpi=100)
    ax = fig.add_subplot()
    years = list(range(1950, 2030, 10))
    pop = [434, 471, 487, 452, 459, 507, 583, 709]
    ax.plot(years, pop, marker="o", color="#1f6f8b")
    ax.set_title("Population of Oslo 1950-2020 (thousands)")
    ax.set_xlabel("Year")
    ax.set_ylabel("Residents (thousands)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "charts/oslo_population.png"), metadata={"Software": None})

    # small images for the web pages
    for rel, color, label in (("web/tea-guide/images/teapot.png", (70, 110, 170), "teapot"),
                              ("web/assets/buns.png", (200, 140, 70), "cardamom buns")):
        path = os.path.join(HERE, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        img = Image.new("RGB", (240 if "teapot" in rel else 300, 160 if "teapot" in rel else 180), (250, 246, 236))
        d = ImageDraw.Draw(img)
        d.ellipse((40, 30, img.width - 40, img.height - 20), fill=color)
        d.text((10, 5), label, fill=(40, 40, 40))
        img.save(path, optimize=True)

    # XLSX with two sheets
    wb = Workbook()
    ws = wb.active
    ws.title = "Bikes"
    ws.append(["sku", "model", "type", "frame_size", "price_nok", "in_stock"])
    for row in [("B-1001", "Fjellrype 29", "mountain", "L", 18990, 4), ("B-1002", "Bykatt 3", "city", "M", 7490, 11),
                ("B-1003", "Grusvei Pro", "gravel", "56", 23900, 2), ("B-1004", "Lyn E-cargo", "cargo e-bike", "one size", 42900, 1),
                ("B-1005", "Smårype 20", "kids", "20 in", 3290, 7)]:
        ws.append(row)
    ws2 = wb.create_sheet("Spare parts")
    ws2.append(["part", "fits", "price_nok", "supplier"])
    for row in [("Brake pads (disc)", "Fjellrype, Grusvei", 249, "Shimano"), ("Inner tube 29 x 2.4", "Fjellrype 29", 129, "Schwalbe"),
                ("Chain 11-speed", "Grusvei Pro", 399, "KMC"), ("Battery 500 Wh", "Lyn E-cargo", 7990, "Bosch")]:
        ws2.append(row)
    fixed = datetime.datetime(2024, 1, 1)
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.save(os.path.join(HERE, "tables/bike_shop_inventory.xlsx"))

    # PDF, two pages of real text
    with PdfPages(os.path.join(HERE, "docs/volcano-field-guide.pdf"),
                  metadata={"Creator": None, "Producer": None, "CreationDate": None, "Title": "Field guide to Icelandic volcanoes"}) as pdf:
        pages = [
            ("Field guide to Icelandic volcanoes", [
                "Hekla: stratovolcano, 1,491 m, about twenty eruptions since 874.",
                "Known in the Middle Ages as the gateway to hell.",
                "Katla: subglacial volcano under Mýrdalsjökull; eruptions melt ice",
                "and send floods (jökulhlaup) across the Mýrdalssandur plain.",
                "Eyjafjallajökull: its 2010 eruption closed European airspace for six days.",
            ]),
            ("Safety before a hike", [
                "Check the Icelandic Met Office eruption and earthquake maps.",
                "Register your route with Safetravel and carry a charged phone.",
                "Gas from fissures (SO2, CO2) collects in hollows: stay upwind.",
                "Fresh lava crust can hide molten rock: never walk on new flows.",
            ]),
        ]
        for title, lines in pages:
            f = Figure(figsize=(8.27, 11.69))
            f.text(0.1, 0.92, title, fontsize=22, weight="bold")
            for i, line in enumerate(lines):
                f.text(0.1, 0.85 - i * 0.04, line, fontsize=12)
            pdf.savefig(f)


if __name__ == "__main__":
    make_binaries()
    print("samples written to", HERE)
