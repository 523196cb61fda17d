// Types of format.js for the TypeScript side (the terminal's `portico status`, lifecycle/status-text.ts):
// the page and the terminal show numbers in the same units.
type Num = number | null | undefined;
type Moment = string | number | null | undefined;
export function bytes(n: Num): string;
export function number(n: Num): string;
export function rate(n: Num): string;
export function ms(n: Num): string;
export function percent(n: Num): string;
export function count(n: Num): string;
export function span(seconds: Num): string;
export function relative(at: Moment, now: number): string;
export function toMs(at: Moment): number | null;
export function clock(t: number, seconds?: boolean): string;
export function date(at: Moment): string;
export function days(at: string | null | undefined, now: number): number | null;
export function storage(st: Record<string, unknown> | null | undefined, now: number): { text: string; ok: boolean };
export function locks(st: Record<string, unknown> | null | undefined): string[][];
export function features(r: Record<string, unknown>): string[];
