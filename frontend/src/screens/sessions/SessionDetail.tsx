// Placeholder: built by its own task.
export function SessionDetail() {
  return <main className="p-6">SessionDetail</main>;
}
