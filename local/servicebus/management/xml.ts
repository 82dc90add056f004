/**
 * Writing the ATOM documents of the management API. Parsing uses @azure/core-xml, the SDK's own XML
 * layer; writing is a few fixed shapes, so a small escaping writer is clearer than an object mapping.
 */
export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', '"': 'quot', "'": 'apos' }[c]};`,
  );
}

export type XmlChild = string | undefined;

/** An element with text or already-written children; undefined values are left out. */
export function element(
  name: string,
  content: string | number | boolean | undefined,
  attributes = '',
): XmlChild {
  if (content === undefined) return undefined;
  return `<${name}${attributes}>${typeof content === 'string' ? escapeXml(content) : String(content)}</${name}>`;
}

export function parent(name: string, children: XmlChild[], attributes = ''): string {
  return `<${name}${attributes}>${children.filter((c) => c !== undefined).join('')}</${name}>`;
}
