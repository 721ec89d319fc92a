// piscina's task: the payload straight back.
export default function echo(payload) {
  return payload;
}
