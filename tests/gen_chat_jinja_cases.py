#!/usr/bin/env python3
"""Regenerates tests/chat_jinja_cases.h: small templates rendered by the reference engine, jinja2
3.1 configured as transformers does (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks,
loop controls, json.dumps-based tojson, raise_exception, strftime_now). The C test compares slm's
Jinja engine against these outputs. Run: python3 tests/gen_chat_jinja_cases.py > tests/chat_jinja_cases.h"""
import json
from datetime import datetime
import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.ext import loopcontrols

CONTEXT = {
    "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}],
    "n": 3, "f": 2.5, "s": " Hello World ", "lst": [3, 1, 2], "d": {"b": 1, "a": [1, 2]},
    "none": None, "t": True, "uni": "h\u00e9llo w\u00f6rld",
    "users": [{"name": "bob", "age": 30, "admin": True}, {"name": "Al", "age": 25, "admin": False},
              {"name": "cy", "age": 41}],
    "q": "it's \"quoted\"\n",
}
NOW = "2024-07-26T00:00:00"

CASES = [
    # whitespace control, trim_blocks, lstrip_blocks, comments
    "a\n  {% if t %}\n  yes\n  {% endif %}\nb",
    "a  {%- if t -%}  x  {%- endif -%}  b",
    "{# c #}\nx {#- c -#} y\n  {# indented #}\nz",
    "{{ 'v' }}\n{{ 'w' }}\n",
    "  {%+ if t %}keep{% endif +%}\nnext",
    "{% raw %}{{ not rendered }}{% endraw %}",
    # loops
    "{% for x in lst %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}{{ loop.length }}|{% endfor %}",
    "{% for x in lst if x > 1 %}{{ x }}:{{ loop.length }} {% else %}none{% endfor %}",
    "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}",
    "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% for x in lst %}{{ loop.cycle('a', 'b') }}{{ loop.previtem }}{{ loop.nextitem }},{% endfor %}",
    "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
    "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }} {% endfor %}",
    "{% for c in 'h\u00e9!' %}[{{ c }}]{% endfor %}",
    "{% for m in messages %}{% set r = m.role %}{{ r }}{% endfor %}{{ r is defined }}",
    "{% for i in range(3) %}{% for j in range(i) %}{{ i }}{{ j }} {% endfor %}{% endfor %}",
    "{% for i in range(3) %}{% if i == 0 %}{% set x = 'a' %}{% endif %}[{{ x }}]{% endfor %}",
    "{% set x = 1 %}{% for i in range(2) %}{{ x }}{% set x = x + 1 %}{{ x }}{% endfor %}{{ x }}",
    # set / namespace / block set
    "{% set x = 1 %}{% if t %}{% set x = 2 %}{% endif %}{{ x }}",
    "{% set ns = namespace(c=0, s='') %}{% for u in users %}{% set ns.c = ns.c + u.age %}{% endfor %}{{ ns.c }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}",
    "{% set blk | upper %}  hi {{ n }}  {% endset %}[{{ blk }}]",
    "{% set x %}a{% endset %}{{ x ~ x }}",
    # macros
    "{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('A') }} {{ greet('B', greeting='Hi') }} {{ greet(name='C') }}",
    "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inside {{ n }}{% endcall %}",
    "{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * fact(k - 1) | int }}{% endif %}{% endmacro %}{{ fact(5) }}",
    # filters
    "{{ s | trim }}|{{ s | upper }}|{{ s | lower }}|{{ 'hello wORLD-x(y)' | title }}|{{ 'hELLO' | capitalize }}",
    "{{ d | tojson }}|{{ users[0] | tojson(indent=2) }}|{{ [] | tojson(indent=2) }}|{{ {'x': []} | tojson(indent=1) }}",
    "{{ d | tojson(separators=(',', ':')) }}|{{ {'z': 1, 'a': {'c': 2, 'b': 3}} | tojson(sort_keys=true) }}|{{ d | tojson(indent=2, separators=(',', ' = ')) }}",
    "{{ (1, 2) == [1, 2] }}{{ (1, 2) == (1, 2) }}{{ [1, 2] == [1, 2] }}{{ {'a': 1} == {'a': 1} }}{{ 1 == true }}",
    "{{ ['\u00e9', 'a\"b', 'c\\\\d', 'e\\nf', 1.5, none, true] | tojson }}",
    "{{ undefined_var | default('dflt') }}|{{ '' | default('e', true) }}|{{ none | default('n') }}|{{ 0 | d(5, boolean=true) }}",
    "{{ lst | join(', ') }}|{{ users | map(attribute='name') | join }}|{{ users | join('/', attribute='age') }}",
    "{{ s | length }} {{ lst | count }} {{ d | length }} {{ uni | length }} {{ undefined_var | length }}",
    "{{ s | replace('l', 'L') }}|{{ 'aaa' | replace('a', 'b', 2) }}",
    "{{ users | selectattr('admin') | map(attribute='name') | list }}{{ users | rejectattr('admin') | map(attribute='name') | list }}",
    "{{ users | selectattr('age', 'gt', 26) | list | length }}{{ users | selectattr('name', 'equalto', 'Al') | first }}",
    "{{ lst | select('odd') | list }}{{ lst | reject('odd') | list }}{{ [0, 1, '', 'x', none] | select | list }}",
    "{{ lst | first }}{{ lst | last }}{{ 'abc' | first }}{{ lst | list }}{{ 'ab' | list }}",
    "{{ lst | sort }}{{ lst | sort(reverse=true) }}{{ ['b', 'A', 'c'] | sort }}{{ users | sort(attribute='age') | map(attribute='name') | join }}",
    "{{ lst | reverse | list }}{{ 'abc' | reverse }}{{ [1, 2, 1, 'A', 'a'] | unique | list }}",
    "{{ range(7) | batch(3) | list }}{{ range(5) | batch(2, 'x') | list }}",
    "{{ 'one two  three' | wordcount }}{{ 3.7 | int }}{{ '42' | int }}{{ 'x' | int(7) }}{{ '2.5' | float }}{{ -3 | abs }}",
    "{{ 2.5 | round }}{{ 3.14159 | round(2) }}{{ 2.7 | round(0, 'floor') }}{{ 7 | round }}",
    "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}",
    "{{ '<a href=\"x\">&\\'' | escape }}|{{ '<b>' | e }}|{{ '<b>' | safe }}",
    # string slices walk the code points once, forwards or backwards, any step
    "{{ uni[::-1] }}|{{ uni[1:8:2] }}|{{ uni[-3:] }}|{{ uni[8:1:-3] }}|{{ uni[100:] }}|{{ uni[::-4] }}|{{ uni[3:3] }}|{{ uni[-100:2] }}|{{ uni[1] }}{{ uni[-1] }}",
    # dicts past the size where lookups go through a hash index: keys of every kind, 1 / 1.0 / true
    # as one key, overwrites, sort_keys and dictsort over many keys
    "{% set big = {'k0': 0, 'k7': 1, 'k14': 2, 'k21': 3, 'k28': 4, 'k35': 5, 'k2': 6, 'k9': 7, 'k16': 8, 'k23': 9, 'k30': 10, 'k37': 11, 'k4': 12, 'k11': 13, 'k18': 14, 'k25': 15, 'k32': 16, 'k39': 17, 'k6': 18, 'k13': 19, 'k20': 20, 'k27': 21, 'k34': 22, 'k1': 23, 'k8': 24, 'k15': 25, 'k22': 26, 'k29': 27, 'k36': 28, 'k3': 29, 'k10': 30, 'k17': 31, 'k24': 32, 'k31': 33, 'k38': 34, 'k5': 35, 'k12': 36, 'k19': 37, 'k26': 38, 'k33': 39} %}"
    "{{ big | length }}|{{ big.k0 }}{{ big['k39'] }}{{ big.get('k12') }}{{ big.get('nope', 'x') }}"
    "{% for i in range(45) %}{{ ('k' ~ i) in big }}{% endfor %}|{{ big | tojson(sort_keys=true) }}|{{ (big | dictsort)[:5] }}",
    "{% set d2 = {1: 'a', 2: 'b', 3: 'c', 4: 'd', 5: 'e', 6: 'f', 7: 'g', 8: 'h', 9: 'i', 10: 'j', 'x': 1} %}"
    "{{ d2[1.0] }}{{ d2[true] }}{{ d2[10] }}{{ 3 in d2 }}{{ 3.5 in d2 }}{{ 'x' in d2 }}{{ d2 | length }}",
    "{% set d3 = {'a': 1, 'b': 2, 'c': 3, 'd': 4, 'e': 5, 'f': 6, 'g': 7, 'h': 8, 'i': 9, 'a': 10, 1: 11, 1.0: 12, true: 13} %}"
    "{{ d3 | length }}{{ d3.a }}{{ d3[1] }}{{ d3 | list }}",
    "{{ d | items | list }}{{ d | dictsort }}{{ {'b': 2, 'a': 1} | dictsort(by='value', reverse=true) }}",
    "{{ 123 | string ~ 'x' }}{{ lst | sum }}{{ lst | min }}{{ lst | max }}{{ users | sum(attribute='age') }}",
    "{{ '%s-%d' | format('a', 3) }}|{{ 'x' | center(5) }}|",
    "{{ 'hello wonderful world' | truncate(12) }}|{{ 'hello wonderful world' | truncate(12, true) }}|{{ 'short' | truncate(3, leeway=0) }}|{{ 'abcdefghij' | truncate(9, end='~') }}",
    # tests
    "{{ n is defined }}{{ nope is undefined }}{{ none is none }}{{ s is string }}{{ n is number }}{{ f is integer }}{{ f is float }}",
    "{{ d is mapping }}{{ lst is iterable }}{{ s is sequence }}{{ t is boolean }}{{ t is true }}{{ n is odd }}{{ n is even }}{{ 9 is divisibleby 3 }}",
    "{{ n is equalto 3 }}{{ n is eq 4 }}{{ 2 is in lst }}{{ none is sameas none }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ n is not none }}",
    # operators
    "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }}",
    "{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1] * 2 }} {{ [1] + [2] }} {{ 1.5 + 1 }} {{ 10 / 4 }} {{ 7.0 // 2 }}",
    "{{ 1 < 2 }}{{ 'a' < 'b' }}{{ [1, 2] < [1, 3] }}{{ 1 == 1.0 }}{{ 'a' != 'a' }}{{ 'b' in 'abc' }}{{ 5 not in lst }}{{ 'a' in d }}",
    "{{ 5 > 3 > 1 }}{{ 1 < 2 > 3 }}{{ 1 < n <= 3 }}{{ 'x' | center(4) }}|{{ 'ab' | center(5) }}|",
    "{{ 'y' if t else 'n' }}{{ 'y' if none else 'n' }}{{ 'x' if false }}|{{ none or 'z' }}{{ 0 and 1 }}{{ not t }}{{ -n }}",
    "{{ n > 1 and n < 5 or false }}{{ not n == 3 }}{{ messages | length - 1 }}{{ -2 | abs }}",
    # subscripts and slices
    "{{ lst[0] }}{{ lst[-1] }}{{ lst[1:] }}{{ lst[::-1] }}{{ lst[:-1] }}{{ lst[5:] }}{{ lst[-2:] }}{{ (range(10) | list)[1:8:3] }}",
    "{{ uni[1:4] }}|{{ uni[::-1] }}|{{ uni[-1] }}|{{ s[::2] }}",
    "{{ messages[0]['role'] }}{{ messages[0].content }}{{ d.a[1] }}{{ d['b'] }}{{ d.missing is defined }}{{ lst[9] is defined }}",
    # methods
    "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxaxx'.strip('x') }}|{{ s.split() }}|{{ 'a,b,,c'.split(',') }}|{{ 'a b c'.split(' ', 1) }}",
    "{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}{{ 'abc'.upper() }}{{ 'ABC'.lower() }}{{ 'a-b'.replace('-', '+') }}{{ 'hi there'.title() }}",
    "{{ '{} and {}'.format(1, 'two') }}|{{ '{0}{0}'.format('x') }}|{{ 'abcb'.find('b') }}{{ 'abcb'.count('b') }}{{ ', '.join(['a', 'b']) }}",
    "{{ d.get('b') }}{{ d.get('zz') }}{{ d.get('zz', 'dflt') }}{{ d.keys() | list }}{{ d.values() | list }}{{ d.items() | list }}",
    "{{ '<think>x</think>\\n\\nanswer'.split('</think>')[-1].lstrip('\\n') }}|{{ 'a1'.isalnum() }}{{ '12'.isdigit() }}",
    # printing Python values
    "{{ none }} {{ t }} {{ false }} {{ 1.0 }} {{ 0.1 }} {{ 1e20 }} {{ 1 / 3 }} {{ 1e-5 }} {{ 123456789.0 }} {{ -0.0 }}",
    "{{ lst }} {{ d }} {{ users[1] }} {{ (1, 'a') }} {{ (1,) }} {{ ['it\\'s', \"q\\\"\", 'n\\nl'] }}",
    "{{ q }}|{{ q | tojson }}|{{ [q] }}",
    # globals
    "{{ strftime_now('%Y-%m-%d %H:%M %b %A') }}",
    "{{ range(3) | list }}{{ range(1, 7, 2) | list }}{{ range(5, 0, -2) | list }}{{ dict(a=1, b='x') }}",
    "{% if messages[0].role != 'system' %}{{ raise_exception('System role required, got ' ~ messages[0].role) }}{% endif %}",
    # literals and misc syntax
    "{{ \"con\" 'cat' }}{{ {'k': [1, {'z': none}]} }}{{ [1, 2,] }}{{ 1_000 }}{{ 0.5e1 }}",
    "{%- set messages = messages[1:] %}{{ messages | length }}{{ messages[0].role }}",
    "{% filter upper %}abc {{ n }}{% endfilter %}",
    "{{ 'a' 'b' | upper }}{{ -1 ** 2 }}{{ (-1) ** 2 }}{{ 2 * 3 ** 2 }}",
    "{{ users | map('tojson') | join(';') }}{{ lst | map('string') | join('-') }}",
    "{% generation %}gen{% endgeneration %}",
    # errors (runtime): message recorded for reference, the engine only needs to fail
    "{{ undefined_var.attr }}",
    "{{ 'a' + none }}",
    "{{ 'x' in none }}",
    "{% for x in none %}{% endfor %}",
    "{{ 1 / 0 }}",
    "{{ lst.append(4) }}",
    "{{ 'a' + 1 }}",
    "{{ (lst | first).x.y }}",
    "{{ lst < 'a' }}",
]


def raise_exception(msg):
    raise jinja2.exceptions.TemplateError(msg)


def strftime_now(fmt):
    return datetime.fromisoformat(NOW).strftime(fmt)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now


class Gen(jinja2.ext.Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body).set_lineno(lineno)


env.add_extension(Gen)


def c_str(s):
    out = '"'
    for b in s.encode("utf-8"):
        c = chr(b)
        if c == '"': out += '\\"'
        elif c == '\\': out += '\\\\'
        elif c == '\n': out += '\\n'
        elif c == '?': out += '\\?'
        elif 32 <= b < 127: out += c
        else: out += '\\%03o' % b
    return out + '"'


print("/* Generated by tests/gen_chat_jinja_cases.py from jinja2 %s; do not edit. */" % jinja2.__version__)
print("static const char *const k_jinja_context = %s;" % c_str(json.dumps(CONTEXT)))
print("static const char *const k_jinja_now = %s;" % c_str(NOW))
print("typedef struct jinja_case { const char *tmpl; const char *expected; const char *error; int raised; } jinja_case;")
print("static const jinja_case k_jinja_cases[] = {")
for src in CASES:
    try:
        out = env.from_string(src).render(**CONTEXT)
        print("    {%s, %s, NULL, 0}," % (c_str(src), c_str(out)))
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise SystemExit("syntax error in case %r: %s" % (src, e))
    except Exception as e:
        raised = type(e) is jinja2.exceptions.TemplateError
        print("    {%s, NULL, %s, %d}," % (c_str(src), c_str(str(e)), raised))
print("};")
