/**
 * Orders past finalize (issue 27): once portico asks the CA to finalize an order, the CA issues the
 * certificate whether or not portico is still there to download it, and a lost one still counts
 * against the CA's duplicate-certificate limits. So before finalize the issuer records the order
 * (`<prefix>/orders/<host>.json`: its URL, the names, the certificate's private key — 0600 like every
 * storage file), and the manager forgets it only after the certificate is saved. A shutdown waits for
 * such an order (the runtime's abort does not interrupt it), and if the process died anyway, the next
 * order for the host resumes it: download the certificate instead of ordering again.
 */
import type { Storage } from '../storage/storage.js';
import { hostKey } from './names.js';

/** PendingOrder is an order the CA was asked to finalize. */
export interface PendingOrder {
  url: string;
  names: string[];
  key: string;
  challenge: string;
  finalized_at: string;
}

/** RESUME_WITHIN_MS: an order older than this is not resumed (CAs expire orders within days; 7 days at most). */
const RESUME_WITHIN_MS = 7 * 86_400_000;

/** PendingOrders reads and writes the records of one CA. */
export class PendingOrders {
  constructor(private readonly storage: Storage, private readonly prefix: string) {}

  private key(host: string): string {
    return `${this.prefix}/orders/${hostKey(host)}.json`;
  }

  async put(host: string, order: PendingOrder): Promise<void> {
    await this.storage.write(this.key(host), JSON.stringify(order, null, 2));
  }

  /** get returns the host's pending order for these names, or null (none, another set of names, too old, unreadable). */
  async get(host: string, names: readonly string[], now = Date.now()): Promise<PendingOrder | null> {
    let raw: Buffer | null;
    try {
      raw = await this.storage.read(this.key(host));
    } catch {
      return null;
    }
    if (raw === null) return null;
    try {
      const p = JSON.parse(raw.toString()) as PendingOrder;
      if (typeof p.url !== 'string' || typeof p.key !== 'string' || !Array.isArray(p.names)) return null;
      if (p.names.join(',') !== names.join(',')) return null;
      if (!(now - Date.parse(p.finalized_at) < RESUME_WITHIN_MS)) return null;
      return p;
    } catch {
      return null;
    }
  }

  async delete(host: string): Promise<void> {
    await this.storage.delete(this.key(host));
  }
}
