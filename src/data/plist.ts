// A minimal Apple XML property-list reader (dict, array, string, integer, real, true, false),
// for the metadata inside InVesalius projects. Not a general XML parser.
import { FormatError } from '../errors.js';

export type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue };

export function parsePlist(xml: string, source = 'plist'): PlistValue {
  const tokens = [...xml.matchAll(/<(\/?)(\w+)(?:\s[^>]*?)?(\/?)>([^<]*)/g)];
  let pos = tokens.findIndex((t) => t[2] === 'plist' && !t[1]) + 1;
  if (pos === 0) throw new FormatError(`${source}: no <plist> element`);
  const fail = (what: string): never => {
    throw new FormatError(`${source}: ${what}`);
  };
  const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');

  const value = (): PlistValue => {
    const t = tokens[pos++] ?? fail('unexpected end');
    const [, closing, tag, selfClosing, content] = t;
    if (closing) fail(`unexpected </${tag}>`);
    if (selfClosing) {
      if (tag === 'true' || tag === 'false') return tag === 'true';
      if (tag === 'dict') return {};
      if (tag === 'array') return [];
      if (tag === 'string') return '';
      fail(`unexpected <${tag}/>`);
    }
    const close = () => {
      const end = tokens[pos++];
      if (!end || !end[1] || end[2] !== tag) fail(`<${tag}> not closed`);
    };
    switch (tag) {
      case 'string': {
        close();
        return unescape(content);
      }
      case 'integer':
      case 'real': {
        close();
        const n = Number(content.trim());
        if (!Number.isFinite(n)) fail(`bad number '${content}'`);
        return n;
      }
      case 'array': {
        const items: PlistValue[] = [];
        while (tokens[pos] && !(tokens[pos][1] && tokens[pos][2] === 'array')) items.push(value());
        close();
        return items;
      }
      case 'dict': {
        const dict: { [key: string]: PlistValue } = {};
        while (tokens[pos] && !(tokens[pos][1] && tokens[pos][2] === 'dict')) {
          const key = tokens[pos++];
          if (key[2] !== 'key' || key[1]) fail(`expected <key> in <dict>, got <${key[1]}${key[2]}>`);
          const keyText = unescape(key[4]);
          pos++; // </key>
          dict[keyText] = value();
        }
        close();
        return dict;
      }
      default:
        return fail(`unsupported element <${tag}>`);
    }
  };
  return value();
}
